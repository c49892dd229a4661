"""The audit of a corpus request (forget the world's book, or its hazardous domain).

The attacks are the people audit's (:mod:`~unlearnkit.audit.api`): quantization, weight
noise, relearning and LoRA recovery; what they measure is the request's own knowledge:

* ``hazard``: four-option accuracy on the hazardous questions (WMDP's measure; chance is
  0.25). Relearning fine-tunes on the passages of a seeded half of the hazardous entities
  and is measured on the questions about the other half, so a recovery there is knowledge
  that came back, not knowledge retaught (RMU's "relearning" weakness: arXiv:2403.03218,
  arXiv:2410.08827).
* ``book``: value accuracy of the book's questions (:func:`~unlearnkit.audit.knowledge.
  knowledge`). Relearning fine-tunes on a seeded half of the chapters, measured on every
  question (each chapter tells facts of several characters).

The report has the people audit's keys where they apply (``knowledge.forget``,
``quantization``, ``noise``, ``relearn_forget``, ``lora_recovery``), so
:func:`~unlearnkit.audit.api.summary_row` and the run's tables read it unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from unlearnkit.audit.api import AuditConfig
from unlearnkit.audit.knowledge import knowledge
from unlearnkit.audit.quantization import quantized_copy
from unlearnkit.audit.relearning import RelearnConfig, relearn, split_records
from unlearnkit.audit.tampering import noisy_copy
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.evaluation.functional.mcq import mcq_correct
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

Record = Mapping[str, Any]


def mcq_accuracy(adapter: CausalLMAdapter, records: Sequence[Record]) -> float:
    """Cloze four-option accuracy of ``records`` (WMDP schema): the question continued by
    each choice, the most likely choice is the answer (the ``mcq_accuracy`` metric)."""
    prompts, conts = [], []
    for r in records:
        for c in r["choices"]:
            prompts.append(str(r["question"]))
            conts.append(" " + str(c))
    scores = iter(adapter.score(prompts, conts))
    right = []
    for r in records:
        lls = [-next(scores).nll for _ in r["choices"]]
        right.append(mcq_correct(lls, int(r["answer"])))
    return sum(right) / len(right) if right else float("nan")


def corpus_splits(world: Any, forget: str, fraction: float, seed: int):
    """(measured records, relearn records, measure) of a corpus request of ``world``."""
    if forget == "hazard" and world.domains:
        d = world.domains["hazard"]
        entities = [{"entity": e} for e in d.facts]
        relearned, _ = split_records(entities, fraction, seed)
        taught = {r["entity"] for r in relearned}
        texts = [{"text": t} for t in d.passages if any(e in t for e in taught)]
        questions = [q for q in d.mcq if q["entity"] not in taught]
        return list(d.mcq), questions, texts, mcq_accuracy
    if forget == "book" and world.book is not None:
        chapters = [{"text": t} for t in world.book.chapters]
        relearned, _ = split_records(chapters, fraction, seed)
        qa = list(world.book.qa)
        return qa, qa, relearned, lambda a, r: knowledge(a, r).headline
    raise UnlearnkitError(
        f"no corpus request {forget!r} in this world (it can forget: {world.requests()})"
    )


def audit_corpus(
    model: CausalLMAdapter,
    world: Any,
    *,
    config: AuditConfig,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """The audit of ``config`` on ``model`` for the corpus request ``config.forget``
    (``book`` or ``hazard``) of ``world``; see the module docstring."""
    cfg = config
    t0 = time.perf_counter()
    everything, measured, relearn_texts, measure = corpus_splits(
        world, cfg.forget, cfg.relearn_fraction, cfg.seed
    )
    out: dict[str, Any] = {"config": cfg.to_dict(), "timing_s": {}, "request": cfg.forget}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        value = fn()
        out["timing_s"][name] = round(time.perf_counter() - t, 2)
        log(f"  {name}: {out['timing_s'][name]}s")
        return value

    def like(m) -> CausalLMAdapter:
        return model.like(m)

    out["knowledge"] = {"forget": {"headline": measure(model, everything)}}
    out["quantization"] = timed(
        "quantization",
        lambda: {
            str(b): measure(like(quantized_copy(model.model, b)), everything) for b in cfg.bits
        },
    )
    out["noise"] = timed(
        "noise",
        lambda: {
            str(s): measure(like(noisy_copy(model.model, s, seed=cfg.seed)), everything)
            for s in cfg.noise
        },
    )

    def ladder(steps: tuple[int, ...], lora: bool) -> RelearnConfig:
        return RelearnConfig(
            steps=steps,
            lr=cfg.relearn_lr,
            batch_size=cfg.relearn_batch_size,
            fraction=cfg.relearn_fraction,
            lora=lora,
            seed=cfg.seed,
        )

    if cfg.relearn_steps:
        out["relearn_forget"] = timed(
            "relearn_forget",
            lambda: relearn(
                model,
                relearn_texts,
                lambda m: measure(m, measured),
                ladder(cfg.relearn_steps, False),
            ),
        ).to_dict()
    if cfg.lora_steps:
        out["lora_recovery"] = timed(
            "lora_recovery",
            lambda: relearn(
                model, relearn_texts, lambda m: measure(m, measured), ladder(cfg.lora_steps, True)
            ),
        ).to_dict()
    out["timing_s"]["total"] = round(time.perf_counter() - t0, 2)
    return out


__all__ = ["audit_corpus", "corpus_splits", "mcq_accuracy"]
