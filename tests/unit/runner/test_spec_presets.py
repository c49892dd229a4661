"""``build=<preset>`` in a run spec: the preset's build, forget request and suites."""

from __future__ import annotations

from unlearnkit.runner.spec import load_spec


def test_a_build_preset_by_name_brings_its_request_and_suites() -> None:
    spec = load_spec(None, ["build=wmdp-test"])
    assert spec.build.forget == spec.forget == "hazard"
    assert spec.suites == ("wmdp", "muse")
    spec = load_spec(None, ["build=book-test", "suites=[muse, mia]"])
    assert spec.forget == "book" and spec.suites == ("muse", "mia")  # given suites win
    spec = load_spec(None, ["build=moe-test"])
    assert spec.forget == "forget10" and spec.build.model.num_experts == 4
    assert spec.suites == ("tofu", "muse", "mia")
