"""The causal-LM family: TOFU / MUSE / WMDP-style forgetting of people, a book or a domain.

The inputs are the embedded synthetic benchmark (``build``: the world, its tokenizer, target
and oracle, cached; :mod:`unlearnkit.runner.build`) or real artefacts (a local Hugging Face
model, its oracle and TOFU- / MUSE-format data files). Each method × seed unlearns from
the target (:func:`unlearnkit.methods.unlearn`), each model is evaluated with the spec's
suites (:func:`unlearnkit.evaluation.evaluate`) against the oracle's reference values, and
with ``audit`` attacked (:func:`unlearnkit.audit.audit_model`) and applied as successive
requests (:func:`unlearnkit.audit.sequential.sequential_unlearning`). Every step is a cache
entry keyed by what determines it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.io import atomic_write_json, strict_json
from unlearnkit.data.formatting import require_same_format
from unlearnkit.evaluation.api import EvalReport, evaluate, library_versions
from unlearnkit.evaluation.context import MEMO_FORMAT, EvalContext, records_hash
from unlearnkit.evaluation.data import EvalData, eval_data
from unlearnkit.evaluation.efficiency import oracle_training_cost
from unlearnkit.evaluation.suites import SUITES
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter
from unlearnkit.runner.families.base import (
    FAMILIES,
    Family,
    Log,
    Prepared,
    RowFields,
    Step,
    Subject,
    Unlearned,
)
from unlearnkit.runner.spec import ExperimentSpec, MethodSpec

#: the leaderboard's columns: (label, report key, format)
HEADLINE: tuple[tuple[str, str], ...] = (
    ("forget quality", "tofu/forget/forget_quality"),
    ("model utility", "tofu/model_utility"),
    ("forget ROUGE-L", "tofu/forget/rouge_l"),
    ("PrivLeak", "muse/privleak"),
    ("MIA AUC (Min-K%)", "mia/mia_min_k"),
)
#: the leaderboard's columns for the corpus requests (forget the book / the hazard domain)
CORPUS_HEADLINES: dict[str, tuple[tuple[str, str], ...]] = {
    "book": (
        ("VerbMem forget", "muse/verbmem_forget"),
        ("KnowMem forget", "muse/knowmem_forget"),
        ("KnowMem retain", "muse/knowmem_retain"),
        ("PrivLeak", "muse/privleak"),
    ),
    "hazard": (
        ("WMDP hazard acc", "wmdp/hazard"),
        ("WMDP benign acc", "wmdp/benign"),
        ("KnowMem retain", "muse/knowmem_retain"),
        ("PrivLeak", "muse/privleak"),
    ),
}


#: the panels of the sequential-requests figure: (history key, title)
SEQUENCE_PANELS: tuple[tuple[str, str], ...] = (
    ("requested", "knowledge: requested so far"),
    ("pending", "knowledge: not yet requested"),
    ("retain", "knowledge: retain people"),
    ("forget_quality", "forget quality (requested)"),
    ("model_utility", "model utility"),
)


def headline_for(forget: str) -> tuple[tuple[str, str], ...]:
    """The leaderboard's (label, report key) columns of a forget request."""
    return CORPUS_HEADLINES.get(forget, HEADLINE)


@FAMILIES.register("lm", paper=None)
class LanguageModels(Family):
    """Causal language models (dense and MoE): the embedded benchmark or a real model."""

    name = "lm"
    spec_type = ExperimentSpec
    description = (
        "causal language models: forget people (TOFU), a book (MUSE) or a domain (WMDP); "
        "the embedded benchmark or a local Hugging Face model"
    )
    method_family = "lm"
    smoke_overrides = (
        "build=test",
        "name=smoke",
        "methods=[{name: grad_ascent, config: {max_steps: 2}}]",
        "bootstrap=0",
    )

    def __init__(self, spec: ExperimentSpec, cache: Cache) -> None:
        super().__init__(spec, cache)
        self._located: tuple[Path, Path | None, list[str]] | None = None
        self._data: EvalData | None = None
        self._target: CausalLMAdapter | None = None
        self._oracle: EvalContext | None = None

    @classmethod
    def load_spec(cls, source: str | Path | None, overrides: Any = ()) -> ExperimentSpec:
        from unlearnkit.runner.spec import load_spec

        return load_spec(source, list(overrides))

    @classmethod
    def headline(cls, spec: Any) -> tuple[tuple[str, str], ...]:
        return headline_for(spec.forget)

    @classmethod
    def presentation(cls, spec: Any) -> dict[str, Any]:
        people = spec.forget not in CORPUS_HEADLINES  # a corpus has no forget quality
        return {
            "plots": [
                *(["fq_vs_mu"] if people else []),
                "metrics",
                "mia_roc",
                "cost",
                "audit_curves",
                *(["sequence"] if people else []),
            ],
            "frontier": None,
            "log_metrics": [HEADLINE[0][1]] if people else [],
            "audit_measure": "value-token accuracy",
            "summary": [
                (
                    f"data: the embedded world (seed {spec.build.world.seed})"
                    if spec.model is None
                    else f"model {spec.model}, data {spec.data}"
                )
                + f"; forget request {spec.forget}"
            ],
            "sequence_panels": [list(p) for p in SEQUENCE_PANELS],
            "sequence_caption": (
                "Sequential requests: each method applied to the forget set as successive "
                "requests (groups of people). Requested knowledge should fall and stay down, "
                "pending and retain knowledge should stay; forget quality compares the people "
                "requested so far with the oracle (which never saw any forget person)."
            ),
        }

    @classmethod
    def default_workers(cls, spec: Any) -> int:
        from unlearnkit.runner.workers import default_workers

        return default_workers() if spec.embedded else 1

    # -- inputs -----------------------------------------------------------------------------
    @property
    def target_dir(self) -> Path:
        return self._locate()[0]

    @property
    def oracle_dir(self) -> Path | None:
        return self._locate()[1]

    def _locate(self) -> tuple[Path, Path | None, list[str]]:
        if self._located is None:
            self._located = _locate(self.spec, self.cache)
        return self._located

    def prepare(self, log: Log) -> Prepared:
        built: dict[str, bool] = {}
        seconds: dict[str, float] = {}
        target_dir, oracle_dir, missing = _locate(self.spec, self.cache, built, seconds)
        self._located = (target_dir, oracle_dir, missing)
        return Prepared(target_dir, oracle_dir, tuple(missing), (), built, seconds)

    @property
    def data(self) -> EvalData:
        if self._data is None:
            self._data = _data(self.spec, self.cache)
        return self._data

    @property
    def target(self) -> CausalLMAdapter:
        if self._target is None:
            self._target = load_lm(self.spec, self.target_dir)
        return self._target

    @property
    def oracle(self) -> EvalContext | None:
        if self._oracle is None and self.oracle_dir is not None:
            self._oracle = EvalContext(
                load_lm(self.spec, self.oracle_dir),
                name="oracle",
                cache_dir=self.cache.root / "eval_reference",
                passes_dir=self.cache.root / "passes",
            )
            if not self.spec.embedded:
                # a real target exists from the start (an embedded one may still be training,
                # and its format is the build's, shared with its oracle by construction)
                require_same_format(
                    {
                        "target": self.target.prompt_format,
                        "oracle": self._oracle.adapter.prompt_format,
                    }
                )
        return self._oracle

    def oracle_cost(self) -> dict[str, Any] | None:
        return oracle_training_cost(self.oracle_dir) if self.oracle_dir is not None else None

    # -- steps ------------------------------------------------------------------------------
    def build(self, role: str, progress: bool) -> Step:
        from unlearnkit.runner.build import _build_role_job

        path, fresh, seconds = _build_role_job(
            self.spec.build.to_dict(), str(self.cache.root), role, progress
        )
        return Step(Path(path), fresh, seconds)

    def unlearn(self, method: MethodSpec, seed: int, progress: bool) -> Unlearned:
        t = time.perf_counter()
        out, config, fresh = _unlearned(
            self.spec,
            self.cache,
            self.target,
            self.target_dir,
            self.data,
            method,
            seed,
            lambda msg: None,
            progress,
        )
        secs = time.perf_counter() - t if fresh else 0.0
        return Unlearned(out / "model", out / "record.json", config, fresh, secs)

    def evaluate(self, subject: Subject) -> Step:
        t = time.perf_counter()
        assert subject.model_dir is not None
        path, fresh = _evaluation(
            self.spec,
            self.cache,
            subject.model_dir,
            self.data,
            self.oracle,
            subject.record,
            self.oracle_cost(),
        )
        return Step(path, fresh, time.perf_counter() - t if fresh else 0.0)

    def audit(self, subject: Subject) -> Step | None:
        if self.spec.audit is None:
            return None
        t = time.perf_counter()
        assert subject.model_dir is not None
        path, fresh = _audited(self, subject.model_dir)
        return Step(path, fresh, time.perf_counter() - t if fresh else 0.0)

    def sequenced(self, subject: Subject) -> bool:
        # sequential requests split a forget set of people; a corpus request (book, hazard)
        # has none
        cfg = self.spec.audit
        return (
            subject.kind == "method"
            and cfg is not None
            and cfg.requests > 0
            and not _corpus(self.spec)
        )

    def sequence(self, subject: Subject) -> Step:
        t = time.perf_counter()
        assert subject.method is not None and subject.seed is not None
        path, fresh = _sequenced(self, subject.method, subject.seed)
        return Step(path, fresh, time.perf_counter() - t if fresh else 0.0)

    def unlearn_order(self) -> list[int]:
        return _longest_first(self.spec)

    # -- rows -------------------------------------------------------------------------------
    def summarise(self, subject: Subject, report: dict[str, Any]) -> RowFields:
        loaded = EvalReport.from_dict(report)
        ci = {
            f"{s}/{k}": list(r.ci) if r.ci else None
            for s, rs in loaded.results.items()
            for k, r in rs.items()
        }
        return RowFields(loaded.summary(), ci, loaded.efficiency)

    def audit_summary(self, audit: dict[str, Any]) -> dict[str, float]:
        from unlearnkit.audit.api import summary_row

        return summary_row(audit)


def _longest_first(spec: ExperimentSpec) -> list[int]:
    """Each method's rank (0: longest) by its expected cost: optimiser steps (``max_steps``,
    else ``epochs`` of 400-example forget sets) x examples per step x sequences per example
    (forget views, plus one retain sequence)."""
    import random

    from unlearnkit.methods import METHODS
    from unlearnkit.methods.api import method_config

    costs = []
    for m in spec.methods:
        cfg = method_config(m.name, m.config)
        method = METHODS.get(m.name)(cfg)
        views = len(method.views("question", " answer", random.Random(0)))
        if not hasattr(cfg, "epochs"):  # an editing method: no training loop
            costs.append(0)
            continue
        examples = cfg.max_steps * cfg.batch_size if cfg.max_steps else cfg.epochs * 400
        costs.append(examples * (views + int(method.uses_retain)))
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    return [order.index(i) for i in range(len(costs))]


def _locate(spec: ExperimentSpec, cache: Cache, built=None, seconds=None):
    """(target dir, oracle dir or None, roles still to train) of ``spec``.

    For the embedded benchmark this builds (or reuses) the world and the tokenizer; the
    target and the oracle are jobs of the run.
    """
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        prep = prepare(spec.build, cache=cache)
        if built is not None:
            built.update(prep.built)
            seconds.update(prep.seconds)
        missing = prep.missing()
        for role in ("target", "oracle"):
            if role not in missing and built is not None:
                built[role], seconds[role] = False, 0.0
        return prep.role_dir("target") / "model", prep.role_dir("oracle") / "model", missing
    oracle = Path(spec.oracle).expanduser() if spec.oracle else None
    return Path(spec.model).expanduser(), oracle, []


def _data(spec: ExperimentSpec, cache: Cache) -> EvalData:
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        return eval_data(prepare(spec.build, cache=cache).world, forget=spec.forget)
    return eval_data(Path(spec.data).expanduser(), forget=spec.forget)


def _data(spec: ExperimentSpec, cache: Cache) -> EvalData:
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        return eval_data(prepare(spec.build, cache=cache).world, forget=spec.forget)
    return eval_data(Path(spec.data).expanduser(), forget=spec.forget)


def _sequenced(state: LanguageModels, m, seed: int) -> tuple[Path, bool]:
    """Method ``m`` (with ``seed``) applied to the target as ``audit.requests`` successive
    forget requests, judged after each (built or reused): cached by the target and oracle
    weights, the method's config, the requests and the data."""
    from unlearnkit.audit.sequential import sequential_unlearning
    from unlearnkit.methods.api import method_config

    spec, cfg, data = state.spec, state.spec.audit, state.data
    if data.tofu is None:
        raise UnlearnkitError("sequential requests need TOFU-format forget and retain sets")
    config = method_config(m.name, {**m.config, "seed": seed})
    oracle = state.oracle
    key = {
        "target": state.target.fingerprint(),
        "oracle": oracle.fingerprint if oracle is not None else None,
        "data": content_hash({"tofu": _split_hashes(data.tofu)}),
        "method": m.name,
        "config": config.to_dict(),
        "requests": cfg.requests,
        "seed": cfg.seed,
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        model = load_lm(spec, state.target_dir)
        out = sequential_unlearning(
            model,
            data.tofu.forget,
            data.tofu.retain,
            m.name,
            requests=cfg.requests,
            config=config.to_dict(),
            retain_eval=data.tofu.retain_eval,
            data=data if oracle is not None else None,
            oracle=oracle,
            seed=cfg.seed,
        )
        payload = {"kind": "unlearnkit.sequence", "version": 1, **out}
        atomic_write_json(tmp / "sequence.json", strict_json(payload))

    path, fresh = state.cache.get_or_build("sequences", key, make)
    return path / "sequence.json", fresh


def _audited(state: LanguageModels, model_dir: Path) -> tuple[Path, bool]:
    """The audit report of ``model_dir`` (built or reused): cached by the weights of the
    model, the target and the oracle, the audit config and the data."""
    from unlearnkit.audit.api import audit_model
    from unlearnkit.audit.data import audit_data
    from unlearnkit.audit.knowledge import knowledge
    from unlearnkit.audit.relearning import split_records

    spec, cfg = state.spec, state.spec.audit
    if spec.embedded:
        from unlearnkit.runner.build import prepare

        source: Any = prepare(spec.build, cache=state.cache).world
    else:
        source = Path(spec.data).expanduser()
    if _corpus(spec):
        return _audited_corpus(state, model_dir, source)
    splits, forms = audit_data(source, forget=spec.forget)
    model = load_lm(spec, model_dir)
    oracle = state.oracle.adapter if state.oracle is not None else None
    key = {
        "model": model.fingerprint(),
        "target": state.target.fingerprint(),
        "oracle": oracle.fingerprint() if oracle is not None else None,
        "audit": {k: v for k, v in cfg.to_dict().items() if k != "requests"},  # not used here
        "data": content_hash(
            {
                "splits": {k: records_hash(v) for k, v in sorted(splits.items())},
                "forms": {k: records_hash(v) for k, v in sorted((forms or {}).items())},
            }
        ),
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        _, measured = split_records(splits[cfg.forget], cfg.relearn_fraction, cfg.seed)
        report = audit_model(
            model,
            splits,
            forms=forms,
            oracle=oracle,
            target=state.target,
            target_knowledge=knowledge(state.target, measured).headline,
            config=cfg,
        )
        payload = {"kind": "unlearnkit.audit", "version": 1, **report}
        atomic_write_json(tmp / "audit.json", strict_json(payload))

    path, fresh = state.cache.get_or_build("audits", key, make)
    return path / "audit.json", fresh


def _corpus(spec: ExperimentSpec) -> bool:
    """Whether the run forgets a corpus of the embedded world (``book``, ``hazard``)."""
    from unlearnkit.data.world.spec import CORPUS_REQUESTS

    return spec.embedded and spec.forget in CORPUS_REQUESTS


def _audited_corpus(state: LanguageModels, model_dir: Path, world: Any) -> tuple[Path, bool]:
    """:func:`_audited` of a corpus request (:mod:`unlearnkit.audit.corpus`)."""
    from unlearnkit.audit.corpus import audit_corpus

    spec, cfg = state.spec, state.spec.audit
    model = load_lm(spec, model_dir)
    key = {
        "kind": "corpus",
        "model": model.fingerprint(),
        "audit": {k: v for k, v in cfg.to_dict().items() if k != "requests"},
        "data": content_hash(
            {"world": world.spec.to_dict(), "items": records_hash(world.training_items())}
        ),
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        report = audit_corpus(model, world, config=cfg)
        payload = {"kind": "unlearnkit.audit", "version": 1, **report}
        atomic_write_json(tmp / "audit.json", strict_json(payload))

    path, fresh = state.cache.get_or_build("audits", key, make)
    return path / "audit.json", fresh


def _unlearned(spec, cache, target, target_dir, data: EvalData, m, seed: int, log, progress=True):
    """The unlearned model directory of method ``m`` with ``seed`` (built or reused)."""
    from unlearnkit.methods.api import method_config, unlearn

    forget, retain = data.unlearning_sets()
    config = method_config(m.name, {**m.config, "seed": seed})
    key = {
        "target": target.fingerprint(),
        "prompt_format": target.prompt_format.to_dict(),
        "forget": records_hash(forget),
        "retain": records_hash(retain),
        "method": m.name,
        "config": config.to_dict(),
        "unlearnkit": library_versions()["unlearnkit"],
        "torch": library_versions()["torch"],
    }

    def make(tmp: Path) -> None:
        from unlearnkit.methods.errors import DivergedError

        log(f"unlearning {m.display} (seed {seed}) ...")
        try:
            unlearn(
                target_dir,
                forget,
                retain,
                m.name,
                config=config,
                out_dir=tmp,
                progress=progress,
                prompt_format=target.prompt_format.format,
            )
        except DivergedError as exc:  # tmp goes on failure: name no checkpoint inside it
            raise exc.discarded() from None
        atomic_write_json(tmp / "cache_key.json", key)

    path, fresh = cache.get_or_build("unlearned", key, make)
    return path, config.to_dict(), fresh


def load_lm(spec: ExperimentSpec, path: str | Path) -> CausalLMAdapter:
    """A model of the run: a real model with the spec's prompt format when it names one
    (models the run writes carry the target's), an embedded one with its stored format."""
    fmt = None if spec.embedded else spec.prompt_format
    return CausalLMAdapter.from_pretrained(path, batch_size=spec.batch_size, prompt_format=fmt)


def _evaluation(spec, cache, model_dir: Path, data, oracle_ctx, record, oracle_cost):
    """The evaluation report of ``model_dir`` (built or reused) and whether it was built."""
    model = load_lm(spec, model_dir)
    cfg = spec.eval_config()
    key = {
        "model": model.fingerprint(),
        "oracle": oracle_ctx.fingerprint if oracle_ctx is not None else None,
        # the prompt and the metric definitions the report was computed under
        "prompt_format": model.prompt_format.to_dict(),
        "definitions": MEMO_FORMAT,
        "data": content_hash(
            {
                "tofu": _split_hashes(data.tofu),
                "muse": _split_hashes(data.muse),
                **({"mcq": {k: records_hash(v) for k, v in data.mcq.items()}} if data.mcq else {}),
            }
        ),
        "eval": cfg.to_dict(),
        # what each suite computes (a change to a suite's items invalidates its reports)
        "suites": content_hash({name: repr(SUITES.get(name).items) for name in spec.suites}),
        "record": _record_key(record),
        "versions": library_versions(),
    }

    def make(tmp: Path) -> None:
        # the model's passes are kept across evaluations: changing an evaluation setting
        # then reruns no forward pass (see EvalContext.save)
        ctx = EvalContext(model, cache_dir=None, passes_dir=cache.root / "passes")
        report = evaluate(
            ctx,
            data,
            oracle=oracle_ctx,
            record=record,
            oracle_cost=oracle_cost if record is not None else None,
            config=cfg,
        )
        report.save(tmp / "report.json")
        for c in (ctx, oracle_ctx):
            if c is not None:
                c.save()

    path, fresh = cache.get_or_build("evaluations", key, make)
    return path / "report.json", fresh


def _record_key(record: Path | None) -> str | None:
    if record is None or not Path(record).is_file():
        return None
    return content_hash(json.loads(Path(record).read_text()))


def _split_hashes(obj: Any) -> dict[str, str] | None:
    if obj is None:
        return None
    out = {}
    for name, value in vars(obj).items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out[name] = records_hash(value)
    return out


__all__ = ["CORPUS_HEADLINES", "HEADLINE", "LanguageModels", "headline_for", "load_lm"]
