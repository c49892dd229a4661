"""``audit_model``: every attack and probe of the audit on one model.

The knowledge measure is the headline of :mod:`~unlearnkit.audit.knowledge` (value-token
accuracy; answer-token accuracy on data without values) on the forget set unless said
otherwise. For one model the report holds:

* ``knowledge``: forget / retain / holdout, before any attack;
* ``quantization``: forget knowledge after b-bit round-to-nearest weights, per b;
* ``noise``: forget knowledge after relative Gaussian weight noise, per scale;
* ``relearn_forget``: the relearning curve on a seeded part of the forget set, measured
  on the rest (``relearn_forget_steps_to_half``: steps to close half the gap to the target,
  when the target's knowledge is given);
* ``relearn_related``: the curve of relearning on related non-forget data (the retain
  people linked to forget people, ``neighbours``), measured on the whole forget set;
* ``lora_recovery``: the same as ``relearn_forget`` with LoRA adapters (a small budget);
* ``forms``: knowledge per form and group of people;
* ``probe``: attribute-probe accuracy per layer on forget and holdout people;
* ``cka_to_oracle``: linear CKA per layer with the oracle on forget and retain inputs;
* ``traces``: how far the target's value vectors that most encode the forgotten answers
  moved in this model, on the oracle's scale (:mod:`~unlearnkit.audit.traces`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unlearnkit.audit.forms import form_knowledge
from unlearnkit.audit.knowledge import knowledge
from unlearnkit.audit.probes import attribute_probe, representation_cka
from unlearnkit.audit.quantization import quantized_copy
from unlearnkit.audit.relearning import RelearnConfig, relearn, split_records, steps_to_recover
from unlearnkit.audit.tampering import noisy_copy
from unlearnkit.audit.traces import concept_token_ids, parametric_traces
from unlearnkit.core.config import Config, param
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter


@dataclass(frozen=True)
class AuditConfig(Config):
    """What the audit runs (an empty tuple switches an attack off).

    forget: the forget set's name. bits / noise: quantization bit widths and relative noise
    scales. relearn_steps, relearn_lr, relearn_batch_size, relearn_fraction: the relearning
    ladder (on ``relearn_fraction`` of the forget set, measured on the rest, and on related
    data). lora_steps: the LoRA recovery ladder. forms: the form probes (None: all).
    probe: the attribute probe and the CKA with the oracle. traces: the parametric traces
    of the ``traces_k`` value vectors that most encode the forget answers (needs the
    target). requests: in ``unlearnkit run``, each method is also applied to the forget set
    as this many successive requests, with forget quality and utility after each
    (:mod:`~unlearnkit.audit.sequential`; 0: no sequences). seed: splits, noise and the
    requests' groups.
    """

    forget: str = "forget10"
    bits: tuple[int, ...] = (8, 4)
    noise: tuple[float, ...] = (0.01, 0.03)
    relearn_steps: tuple[int, ...] = (1, 4, 16, 64)
    relearn_lr: float = param(1e-3, gt=0)
    relearn_batch_size: int = param(8, ge=1)
    relearn_fraction: float = param(0.5, gt=0, lt=1)
    related: bool = True
    lora_steps: tuple[int, ...] = (16,)
    forms: tuple[str, ...] | None = None
    probe: bool = True
    traces: bool = True
    traces_k: int = param(20, ge=1)
    requests: int = param(5, ge=0)
    seed: int = 0

    def validate(self) -> None:
        if any(not 2 <= b <= 16 for b in self.bits):
            self.fail("bits", self.bits, "bit widths go from 2 to 16, e.g. [8, 4]")
        if any(s < 0 for s in self.noise):
            self.fail("noise", self.noise, "noise scales are >= 0, e.g. [0.01, 0.03]")
        for name in ("relearn_steps", "lora_steps"):
            if any(s < 1 for s in getattr(self, name)):
                self.fail(name, getattr(self, name), "give step counts >= 1, e.g. [1, 4, 16]")


def audit_model(
    model: CausalLMAdapter,
    tofu: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    forms: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    oracle: CausalLMAdapter | None = None,
    target: CausalLMAdapter | None = None,
    target_knowledge: float | None = None,
    config: AuditConfig | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Run the audit of ``config`` on ``model``; see the module docstring for the report.

    tofu: TOFU-style splits (``config.forget``, ``retain90``-like ``retain*``, ``holdout*``,
    ``neighbours``: those present are used). forms: the world's form records. oracle: for
    the CKA and the traces' scale. target: for the traces. target_knowledge: the target's
    value accuracy on the measured forget records, for the steps-to-recover figures.
    """
    cfg = config or AuditConfig()
    if cfg.forget not in tofu:
        raise KeyError(f"no {cfg.forget!r} split in the data; it has {sorted(tofu)}")
    forget = list(tofu[cfg.forget])
    holdout_name = cfg.forget.replace("forget", "holdout")
    holdout = list(tofu.get(holdout_name, []))
    retain_name = next((n for n in ("retain90", "retain95", "retain99") if n in tofu), None)
    retain = list(tofu[retain_name]) if retain_name else []
    t0 = time.perf_counter()
    out: dict[str, Any] = {"config": cfg.to_dict(), "timing_s": {}}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        value = fn()
        out["timing_s"][name] = round(time.perf_counter() - t, 2)
        log(f"  {name}: {out['timing_s'][name]}s")
        return value

    def like(m) -> CausalLMAdapter:
        return model.like(m)  # keeps any inference-time wrapper

    def forget_acc(adapter: CausalLMAdapter, records=forget) -> float:
        return knowledge(adapter, records).headline

    base = {"forget": knowledge(model, forget).to_dict()}
    if retain:
        base["retain"] = knowledge(model, retain).to_dict()
    if holdout:
        base["holdout"] = knowledge(model, holdout).to_dict()
    out["knowledge"] = base
    out["quantization"] = timed(
        "quantization",
        lambda: {str(b): forget_acc(like(quantized_copy(model.model, b))) for b in cfg.bits},
    )
    out["noise"] = timed(
        "noise",
        lambda: {
            str(s): forget_acc(like(noisy_copy(model.model, s, seed=cfg.seed))) for s in cfg.noise
        },
    )
    relearned, measured = split_records(forget, cfg.relearn_fraction, cfg.seed)

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
        curve = timed(
            "relearn_forget",
            lambda: relearn(
                model,
                relearned,
                lambda m: forget_acc(m, measured),
                ladder(cfg.relearn_steps, False),
            ),
        )
        out["relearn_forget"] = curve.to_dict()
        if target_knowledge is not None:
            out["relearn_forget_steps_to_half"] = steps_to_recover(
                curve, curve.values[0], target_knowledge
            )
        related = list(tofu.get("neighbours", []))
        if cfg.related and related:
            out["relearn_related"] = timed(
                "relearn_related",
                lambda: relearn(
                    model, related, lambda m: forget_acc(m), ladder(cfg.relearn_steps, False)
                ),
            ).to_dict()
    if cfg.lora_steps:
        out["lora_recovery"] = timed(
            "lora_recovery",
            lambda: relearn(
                model, relearned, lambda m: forget_acc(m, measured), ladder(cfg.lora_steps, True)
            ),
        ).to_dict()
    if forms:
        table = timed("forms", lambda: form_knowledge(model, forms, only=cfg.forms))
        out["forms"] = {f: {g: k.to_dict() for g, k in by.items()} for f, by in table.items()}
    if cfg.probe and retain:
        tests = {"forget": forget, **({"holdout": holdout} if holdout else {})}
        out["probe"] = timed("probe", lambda: attribute_probe(model, retain, tests, seed=cfg.seed))
        if oracle is not None:
            out["cka_to_oracle"] = timed(
                "cka",
                lambda: {
                    "forget": representation_cka(model, oracle, forget),
                    "retain": representation_cka(model, oracle, retain[: len(forget)]),
                },
            )
    if cfg.traces and target is not None:
        values = [str(r["value"]) for r in forget if r.get("value")]
        if values:
            out["traces"] = timed(
                "traces",
                lambda: parametric_traces(
                    target.model,
                    model.model,
                    oracle.model if oracle is not None else None,
                    concept_token_ids(model.tokenizer, values),
                    k=cfg.traces_k,
                ),
            )
    out["timing_s"]["total"] = round(time.perf_counter() - t0, 2)
    return out


def summary_row(report: Mapping[str, Any]) -> dict[str, float]:
    """The headline numbers of one audit report: forget knowledge before and after each
    attack, the forms' mean on forget people, the traces' cosine and the probe's last-layer
    accuracy. (Reports written as strict JSON hold non-finite numbers as strings.)"""
    num = float
    row: dict[str, float] = {"forget": num(report["knowledge"]["forget"]["headline"])}
    for bits, v in report.get("quantization", {}).items():
        row[f"int{bits}"] = num(v)
    for scale, v in report.get("noise", {}).items():
        row[f"noise {scale}"] = num(v)
    for key, label in (("relearn_forget", "relearn"), ("relearn_related", "related")):
        if key in report:
            curve = report[key]
            row[f"{label}@0"] = num(curve["values"][0])
            row[f"{label}@{curve['steps'][-1]}"] = num(curve["values"][-1])
    if "lora_recovery" in report:
        curve = report["lora_recovery"]
        row[f"lora@{curve['steps'][-1]}"] = num(curve["values"][-1])
    if "forms" in report:
        values = [
            num(by["forget"]["headline"]) for by in report["forms"].values() if "forget" in by
        ]
        values = [v for v in values if not math.isnan(v)]
        row["forms (forget)"] = sum(values) / len(values) if values else math.nan
    if "traces" in report:
        row["traces cosine"] = num(report["traces"]["unlearned"]["cosine"])
    if "probe" in report:
        acc = report["probe"]["accuracy"]
        row["probe forget"] = num(acc["forget"][-1])
        if "holdout" in acc:
            row["probe holdout"] = num(acc["holdout"][-1])
    return row


__all__ = ["AuditConfig", "audit_model", "summary_row"]
