"""The public WMDP (``cais/wmdp``) in the ``wmdp`` suite: its three configs found in a data
directory as the hub ships them, and prompted as lm-evaluation-harness's ``wmdp_*`` tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml

from unlearnkit.evaluation import evaluate
from unlearnkit.evaluation.data import eval_data
from unlearnkit.evaluation.metrics import METRICS, Split
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter


def _questions(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "answer": k % 4,
            "question": f" {prefix} question {k}? ",  # lm-eval strips the question
            "choices": [f"{prefix} option {k}.{j}" for j in range(4)],
        }
        for k in range(n)
    ]


SETS = {"wmdp-bio": _questions("bio", 3), "wmdp-chem": _questions("chem", 2)}


def _hub_download(root: Path) -> Path:
    """cais/wmdp as downloaded: ``<config>/test-00000-of-00001.parquet`` (cyber left out)."""
    for config, records in SETS.items():
        path = root / config / "test-00000-of-00001.parquet"
        path.parent.mkdir(parents=True)
        datasets.Dataset.from_list(records).to_parquet(str(path))
    return root


@pytest.mark.parametrize("inside", [False, True])
def test_a_wmdp_download_is_found_as_the_data_dir_or_under_wmdp(tmp_path, inside) -> None:
    root = _hub_download(tmp_path / "data" / "wmdp" if inside else tmp_path / "data")
    data = eval_data(tmp_path / "data")
    assert data.mcq == SETS and root.is_dir()
    assert data.split("wmdp_bio").records == SETS["wmdp-bio"]
    assert data.split("wmdp_cyber") is None and data.split("wmdp_hazard") is None


def test_the_suite_scores_each_public_set_and_says_what_is_missing(tmp_path, tiny_lm) -> None:
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=16)
    report = evaluate(adapter, _hub_download(tmp_path), suites=["wmdp"], bootstrap=0)
    res = report.results["wmdp"]
    assert set(res) == {"bio", "chem"}
    assert len(res["bio"]) == 3 and len(res["chem"]) == 2
    assert set(res["bio"].values) <= {0.0, 1.0} and res["bio"].extra["chance"] == 0.25
    assert "no wmdp_cyber split" in report.skipped["wmdp"]["cyber"]
    assert set(report.skipped["wmdp"]) == {"cyber", "hazard", "benign"}


def test_letters_prompt_is_lm_evaluation_harness_wmdp_template() -> None:
    lm_eval = pytest.importorskip("lm_eval")
    jinja2 = pytest.importorskip("jinja2")
    tasks = Path(lm_eval.__file__).parent / "tasks" / "wmdp"
    template = yaml.safe_load((tasks / "_default_template_yaml").read_text())
    description = yaml.safe_load((tasks / "wmdp_bio.yaml").read_text())["description"]
    record = _questions("bio", 1)[0]
    expected = description + jinja2.Template(template["doc_to_text"]).render(**record)
    unit = METRICS.get("mcq_accuracy")(style="letters", subject="biology")

    class Ctx:  # the requests need no model
        adapter = None

    pairs = unit.requests(Ctx(), Split("wmdp_bio", [record]))
    assert [p for p, _ in pairs] == [expected] * 4
    assert [c for _, c in pairs] == [" " + x for x in template["doc_to_choice"]]
