"""``unlearnkit demo``: build the demo world, train target and oracle, measure accuracies.

A check of the embedded benchmark's build alone (no unlearning); the main job is
``unlearnkit run`` (:mod:`unlearnkit.runner.run`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unlearnkit.core.cache import Cache
from unlearnkit.evaluation.accuracy import qa_accuracy
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
from unlearnkit.runner.build import BuildSpec, Built, build

# (row name, tofu config or "{forget}_perturbed", question field, answer field, generate?)
EVAL_SETS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("trained QA (all people)", "full", "question", "answer", False),
    ("forget people", "{forget}_perturbed", "question", "answer", True),
    ("retain people", "retain_perturbed", "question", "answer", True),
    (
        "forget, held-out paraphrases",
        "{forget}_perturbed",
        "paraphrased_question",
        "paraphrased_answer",
        True,
    ),
    (
        "retain, held-out paraphrases",
        "retain_perturbed",
        "paraphrased_question",
        "paraphrased_answer",
        True,
    ),
    ("holdout people (never trained)", "{holdout}", "question", "answer", True),
)


@dataclass(frozen=True)
class DemoResult:
    built: Built
    accuracy: dict[str, dict[str, dict[str, float]]]  # model -> set -> metric -> mean
    eval_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.built.spec.to_dict(),
            "paths": {
                "world": str(self.built.world_dir),
                "target": str(self.built.target_dir),
                "oracle": str(self.built.oracle_dir),
            },
            "built": self.built.built,
            "seconds": {**self.built.seconds, "evaluation": self.eval_seconds},
            "training": self.built.records,
            "accuracy": self.accuracy,
        }


def evaluate_accuracies(
    built: Built, *, batch_size: int = 128
) -> dict[str, dict[str, dict[str, float]]]:
    """Answer-token, value-token and generation accuracy of target and oracle per set."""
    forget = built.spec.forget
    holdout = forget.replace("forget", "holdout")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for role, path in (("target", built.target_dir), ("oracle", built.oracle_dir)):
        adapter = CausalLMAdapter.from_pretrained(path, batch_size=batch_size)
        out[role] = {}
        for name, config, qf, af, gen in EVAL_SETS:
            records = built.world.tofu[config.format(forget=forget, holdout=holdout)]
            res = qa_accuracy(adapter, records, question_field=qf, answer_field=af, generate=gen)
            out[role][name] = {k: r.aggregate for k, r in res.items()}
    return out


def run_demo(
    spec: BuildSpec | None = None,
    *,
    cache: Cache | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> DemoResult:
    built = build(spec, cache=cache, progress=progress, log=log)
    t0 = time.perf_counter()
    accuracy = evaluate_accuracies(built)
    return DemoResult(built, accuracy, time.perf_counter() - t0)
