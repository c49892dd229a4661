"""What keeps a real-model evaluation finishing and correct: which tokens the token-level
metrics read, a missing retraining cost (null with the reason, never NaN in a strict-JSON
report), and strict JSON for every extra a result carries."""

from __future__ import annotations

import json
import math

import pytest
import torch

from unlearnkit.core.results import Result
from unlearnkit.evaluation.api import EvalReport
from unlearnkit.evaluation.efficiency import NO_ORACLE_COST, efficiency
from unlearnkit.evaluation.tokens import without_last_token
from unlearnkit.models.adapters.causal_lm import ContinuationScores

RECORD = {
    "wall_time_s": 4.0,
    "peak_memory_mb": 100.0,
    "steps": 10,
    "parameters_changed": 50,
    "parameters_total": 200,
}


# ------------------------------------------------------------------------------ tokens
def test_without_last_token_cuts_every_per_token_field() -> None:
    s = ContinuationScores(
        token_ids=torch.tensor([5, 6, 2]),
        logprobs=torch.tensor([-0.1, -0.2, -0.3]),
        argmax_ids=torch.tensor([5, 7, 2]),
        offsets=((0, 2), (2, 4), (4, 4)),
        dist=torch.zeros(3, 11),
        moments=(torch.tensor([-1.0, -2.0, -3.0]), torch.tensor([0.5, 0.6, 0.7])),
    )
    cut = without_last_token(s)
    assert cut.token_ids.tolist() == [5, 6]
    assert cut.logprobs.tolist() == pytest.approx([-0.1, -0.2])
    assert cut.correct.tolist() == [True, False]
    assert cut.offsets == ((0, 2), (2, 4))
    assert cut.dist.shape == (2, 11)
    assert cut.moments[0].tolist() == [-1.0, -2.0]
    assert cut.moments[1].tolist() == pytest.approx([0.5, 0.6])
    # the likelihood fields of the original are untouched: nll over all three tokens
    assert s.n_tokens == 3 and s.nll == pytest.approx(0.6)


def test_without_last_token_of_one_and_of_no_token() -> None:
    one = ContinuationScores(torch.tensor([2]), torch.tensor([-0.5]), torch.tensor([2]))
    assert without_last_token(one).n_tokens == 0
    none = without_last_token(without_last_token(one))
    assert none.n_tokens == 0 and math.isnan(none.avg_nll)


# ------------------------------------------------------------------------------ efficiency
def test_a_missing_oracle_cost_is_null_with_the_reason() -> None:
    e = efficiency(RECORD, None)
    assert e.time_fraction_of_retraining is None
    d = e.to_dict()
    assert d["time_fraction_of_retraining"] is None
    assert d["oracle_wall_time_s"] is None
    assert d["time_fraction_note"] == NO_ORACLE_COST and "build.json" in NO_ORACLE_COST
    assert d["fraction_changed"] == 0.25  # 50 / 200
    json.dumps(d, allow_nan=False)  # strict JSON


def test_a_known_oracle_cost_gives_the_fraction_and_no_note() -> None:
    d = efficiency(RECORD, {"wall_time_s": 16.0, "steps": 100}).to_dict()
    assert d["time_fraction_of_retraining"] == 0.25  # 4 / 16
    assert d["time_fraction_note"] is None and d["oracle_cost_note"] is None


def test_an_unusable_oracle_cost_is_null_with_the_reason() -> None:
    for cost in ({"steps": 3}, {"wall_time_s": 0.0}, {"wall_time_s": float("nan")}):
        d = efficiency(RECORD, cost).to_dict()
        assert d["time_fraction_of_retraining"] is None, cost
        assert "no usable wall time" in d["time_fraction_note"], cost
        json.dumps(d, allow_nan=False)


def test_the_caller_can_say_why_the_cost_is_unknown() -> None:
    d = efficiency(RECORD, None, no_cost_note="no oracle was given").to_dict()
    assert d["time_fraction_note"] == "no oracle was given"


def test_non_finite_record_figures_become_null() -> None:
    d = efficiency({**RECORD, "peak_memory_mb": float("nan")}, None).to_dict()
    assert d["peak_memory_mb"] is None
    json.dumps(d, allow_nan=False)


# ------------------------------------------------------------------------------ report
def test_a_report_with_non_finite_extras_is_saved_as_strict_json(tmp_path) -> None:
    res = Result.from_values(
        "forget/truth_ratio",
        [0.5, math.nan],
        higher_is_better=True,
        extra={"ratios": [1.0, math.inf], "nested": {"auc_oracle": math.nan}},
    )
    report = EvalReport(
        config={},
        model={"source": "m", "fingerprint": "f"},
        data={},
        results={"tofu": {"forget/truth_ratio": res}},
        efficiency=efficiency(RECORD, None).to_dict(),
    )
    path = report.save(tmp_path / "eval.json")
    data = json.loads(path.read_text())  # strict: NaN / inf are strings, unknown cost null
    r = data["results"]["tofu"]["forget/truth_ratio"]
    assert r["values"] == [0.5, "nan"]
    assert r["extra"] == {"ratios": [1.0, "inf"], "nested": {"auc_oracle": "nan"}}
    assert data["efficiency"]["time_fraction_of_retraining"] is None
    back = EvalReport.load(path)
    assert back.results["tofu"]["forget/truth_ratio"].aggregate == 0.5
