"""The worked examples of docs/extending.md run as written: a method, a metric, an attack and
a whole family, each saved as a module and imported in a fresh process (so that what they
register stays out of this one's registries)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"
NAMES = ("ex_method", "ex_metric", "ex_attack", "ex_family")


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_doc_has_the_four_examples():
    assert len(blocks()) == len(NAMES)


CHECK = textwrap.dedent(
    """
    import json, sys
    from importlib import resources
    from pathlib import Path
    import jsonschema
    sys.path.insert(0, sys.argv[1])
    out = Path(sys.argv[1])
    import ex_method, ex_metric, ex_attack, ex_family
    from tests.architectures import save_tiny_lm
    from unlearnkit.core.cache import Cache
    from unlearnkit.evaluation import METRICS, MIA_ATTACKS, EvalContext, Split
    from unlearnkit.methods import unlearn
    from unlearnkit.methods.api import methods_of
    from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
    from unlearnkit.runner.families import FAMILIES
    from unlearnkit.runner.run import run_experiment

    # the method: registered for the lm family, and it unlearns
    assert "scaled_ascent" in methods_of("lm")
    lm = save_tiny_lm(out / "lm")
    qa = [("What comes after one?", " two"), ("What comes after two?", " three")]
    model, record = unlearn(lm, qa[:1], qa[1:], "scaled_ascent", max_steps=2, batch_size=1,
                            progress=False)
    assert record.steps == 2 and record.method == "scaled_ascent"

    # the metric and the attack: registered, and they compute on the tiny model
    ctx = EvalContext(CausalLMAdapter.from_pretrained(lm))
    records = [{"question": q, "answer": a.strip()} for q, a in qa]
    res = METRICS.get("answer_perplexity")().compute(ctx, Split("forget", records))
    assert len(res.values) == 2 and res.aggregate > 1 and not res.higher_is_better
    attack = MIA_ATTACKS.get("max_token_loss")()
    scores = attack.scores(ctx, Split("forget", records))
    assert len(scores) == 2 and all(s <= 0 for s in scores)

    # the family: listed, and a run goes through the one runner
    toy = FAMILIES.get("toy")
    spec = toy.load_spec(None, list(toy.smoke_overrides))
    cache = Cache(out / "cache")
    result = run_experiment(spec, cache=cache, runs_dir=out / "runs", log=lambda m: None)
    data = json.loads((result.run_dir / "results.json").read_text())
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    jsonschema.validate(data, json.loads(ref.read_text()))
    assert data["family"] == "toy"
    rows = {r["label"]: r["metrics"] for r in data["rows"]}
    assert set(rows) == {"target", "oracle", "toy_finetune"}
    # the oracle never saw the forget points: they fit it worse than they fit the target
    assert rows["oracle"]["mse/forget"] >= rows["target"]["mse/forget"]
    again = run_experiment(spec, cache=cache, runs_dir=out / "runs", log=lambda m: None)
    assert not any(again.built.values()), again.built
    print("ok")
    """
)


def test_the_worked_examples_run(tmp_path):
    pytest.importorskip("jsonschema")
    for name, code in zip(NAMES, blocks(), strict=True):
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-4000:]
