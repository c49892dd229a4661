"""``evaluation:`` in a run spec: further EvalConfig settings of every evaluation of the run."""

from __future__ import annotations

import pytest
import yaml

from unlearnkit.core.errors import ConfigError
from unlearnkit.runner.spec import load_spec, recipe_path


def test_evaluation_settings_reach_the_runs_eval_config() -> None:
    spec = load_spec(
        None,
        [
            "suites=[tofu, lm_eval]",
            "bootstrap=10",
            "evaluation={max_new_tokens: 32, lm_eval_tasks: [mmlu_anatomy], lm_eval_limit: 5}",
        ],
    )
    cfg = spec.eval_config()
    assert cfg.suites == ("tofu", "lm_eval") and cfg.bootstrap == 10
    assert cfg.max_new_tokens == 32 and cfg.lm_eval_tasks == ("mmlu_anatomy",)
    assert cfg.lm_eval_limit == 5 and cfg.forget == spec.forget
    assert load_spec(None, ["evaluation.seed=3"]).eval_config().seed == 3
    assert load_spec(None).eval_config().max_new_tokens is None  # each metric's own


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("evaluation.bootstrap=5", r"the spec's own fields \(set bootstrap=...\)"),
        ("evaluation.max_new_tokens=0", "must be >= 1"),
        ("evaluation.max_new_token=9", "Did you mean 'max_new_tokens'"),
        ("evaluation.lm_eval_tasks=[x]", "add it to the suites"),
    ],
)
def test_bad_evaluation_settings_say_how_to_fix_them(override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_spec(None, [override])


def test_the_real_model_recipe_sets_the_generation_budget() -> None:
    recipe = yaml.safe_load(recipe_path("local_hf_model").read_text())
    assert recipe["evaluation"] == {"max_new_tokens": 200}
