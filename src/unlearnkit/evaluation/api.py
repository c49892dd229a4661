"""``evaluate(model, data, suites=[...], oracle=...)``: run suites, return an :class:`EvalReport`.

The report is a typed, versioned JSON document (``EvalReport.save`` / ``EvalReport.load``):
the evaluation config, library versions, the model's and the oracle's fingerprints, every
result with its per-example values and 95% bootstrap interval, what was skipped and why,
the efficiency figures (when given the method's record; an unknown retraining cost is null
with the reason), and how many forward passes the evaluation made.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unlearnkit.core.cache import default_cache_dir
from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import ConfigError, UnlearnkitError
from unlearnkit.core.io import atomic_write_text
from unlearnkit.core.results import Result
from unlearnkit.data.formatting import require_same_format
from unlearnkit.evaluation.context import EvalContext
from unlearnkit.evaluation.data import EvalData, eval_data
from unlearnkit.evaluation.efficiency import efficiency, oracle_training_cost
from unlearnkit.evaluation.metrics import METRICS
from unlearnkit.evaluation.suites import SUITES, run_suite
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

REPORT_KIND = "unlearnkit.eval"
REPORT_VERSION = 1
#: suites that read no benchmark files of ours (lm-evaluation-harness tasks bring theirs)
DATA_FREE_SUITES = frozenset({"lm_eval"})


@dataclass(frozen=True)
class EvalConfig(Config):
    """Settings of one evaluation.

    suites: which suites to run (``unlearnkit list suites``). forget: the forget request
    of TOFU data. bootstrap: resamples of every 95% interval, composites (model utility)
    included (0: no intervals). ci_level: their coverage. seed: the resampling seed.
    batch_size: sequences per forward pass. max_new_tokens: the generation budget of every
    ROUGE-type metric (None: each metric's own, as open-unlearning's configs: TOFU ROUGE-L
    200, MUSE VerbMem 128, KnowMem 32). lm_eval_tasks / lm_eval_include / lm_eval_limit /
    lm_eval_num_fewshot: the ``lm_eval`` suite's lm-evaluation-harness task names, the
    folder of their task YAMLs, documents per task and few-shot examples (None: the task's).
    """

    suites: tuple[str, ...] = ("tofu", "muse", "mia")
    forget: str = "forget10"
    bootstrap: int = param(1000, ge=0)
    ci_level: float = param(0.95, gt=0, lt=1)
    seed: int = 0
    batch_size: int = param(64, ge=1)
    max_new_tokens: int | None = param(None, ge=1)
    lm_eval_tasks: tuple[str, ...] = ()
    lm_eval_include: str | None = None
    lm_eval_limit: float | None = param(None, gt=0)
    lm_eval_num_fewshot: int | None = param(None, ge=0)

    def validate(self) -> None:
        for s in self.suites:
            if s not in SUITES.names():
                self.fail("suites", self.suites, f"unknown suite {s!r}; use {SUITES.names()}")
        if not self.suites:
            self.fail("suites", self.suites, "give at least one suite")
        if self.lm_eval_tasks and "lm_eval" not in self.suites:
            self.fail(
                "lm_eval_tasks",
                self.lm_eval_tasks,
                "tasks of the lm_eval suite: add it to the suites (--suite tofu,lm_eval)",
            )


@dataclass
class EvalReport:
    """Everything one evaluation found (see the module docstring for the layout)."""

    config: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    results: dict[str, dict[str, Result]]
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    oracle: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    efficiency: dict[str, Any] | None = None
    passes: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_time_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def summary(self) -> dict[str, float]:
        """``suite/key`` -> aggregate."""
        return {f"{s}/{k}": r.aggregate for s, rs in self.results.items() for k, r in rs.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain data, strict JSON: a NaN or infinity anywhere (a result's extras included)
        becomes a string, as in a result's values; an unknown cost is already None."""
        return _strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return {
            "kind": REPORT_KIND,
            "version": REPORT_VERSION,
            "created": self.created,
            "versions": self.versions,
            "config": self.config,
            "model": self.model,
            "oracle": self.oracle,
            "reference": self.reference,
            "data": self.data,
            "wall_time_s": self.wall_time_s,
            "passes": self.passes,
            "efficiency": self.efficiency,
            "skipped": self.skipped,
            "results": {
                s: {k: r.to_dict() for k, r in rs.items()} for s, rs in self.results.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        if data.get("kind") != REPORT_KIND:
            raise UnlearnkitError(
                f"not an unlearnkit evaluation report (kind={data.get('kind')!r}, expected "
                f"{REPORT_KIND!r})"
            )
        if data.get("version") != REPORT_VERSION:
            raise UnlearnkitError(
                f"evaluation report version {data.get('version')!r} is not supported; this "
                f"unlearnkit reads version {REPORT_VERSION}"
            )
        return cls(
            config=dict(data["config"]),
            model=dict(data["model"]),
            data=dict(data["data"]),
            results={
                s: {k: Result.from_dict(r) for k, r in rs.items()}
                for s, rs in data["results"].items()
            },
            skipped={s: dict(v) for s, v in (data.get("skipped") or {}).items()},
            oracle=data.get("oracle"),
            reference=data.get("reference"),
            efficiency=data.get("efficiency"),
            passes={k: dict(v) for k, v in (data.get("passes") or {}).items()},
            wall_time_s=float(data.get("wall_time_s", 0.0)),
            versions=dict(data.get("versions") or {}),
            created=str(data.get("created", "")),
        )

    def save(self, path: str | Path) -> Path:
        """Write the report as strict JSON (NaN and infinities as strings), atomically."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UnlearnkitError(f"cannot read the report {str(path)!r}: {exc}") from exc
        return cls.from_dict(data)


def _strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string ("nan", "inf")."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(v) for v in value]
    return value


def library_versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    from unlearnkit import __version__

    return {
        "unlearnkit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def _context(
    model: Any, name: str, batch_size: int, cache_dir, progress: bool, prompt_format: Any = None
) -> EvalContext:
    if isinstance(model, EvalContext):
        return model
    if isinstance(model, CausalLMAdapter):
        adapter = model
    elif isinstance(model, str | Path):
        adapter = CausalLMAdapter.from_pretrained(
            model, batch_size=batch_size, prompt_format=prompt_format
        )
    else:
        raise UnlearnkitError(
            f"cannot evaluate a {type(model).__name__} as the {name}; give a model directory "
            "or a CausalLMAdapter"
        )
    return EvalContext(adapter, name=name, cache_dir=cache_dir, progress=progress)


def _describe(model: Any, ctx: EvalContext) -> dict[str, Any]:
    if isinstance(model, EvalContext):
        model = model.adapter
    source = str(model) if isinstance(model, str | Path) else type(model).__name__
    return {"source": source, "fingerprint": ctx.fingerprint}


def evaluate(
    model: Any,
    data: Any,
    suites: Sequence[str] | None = None,
    *,
    oracle: Any = None,
    reference: Any = None,
    record: Any = None,
    oracle_cost: Mapping[str, Any] | None = None,
    config: EvalConfig | Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    prompt_format: Any = None,
    **overrides: Any,
) -> EvalReport:
    """Evaluate ``model`` on ``data`` with ``suites`` and return the report.

    model / oracle / reference: a model directory or a CausalLMAdapter. The oracle is the
    model retrained without the forget set (forget quality, PrivLeak); the reference model
    of the Reference attack defaults to the oracle. data: a World, TofuData, MuseData or a
    directory; ``None`` when the only suite is ``lm_eval``. record: the unlearning run's
    record (an UnlearnRecord, its dict, or the ``record.json`` path) for the efficiency
    figures; oracle_cost: the oracle's training record (read from the oracle's
    ``build.json`` when not given). cache_dir: where the oracle's reference values are kept
    (default: the unlearnkit cache). Settings: an :class:`EvalConfig`, a mapping, or keyword
    overrides (``bootstrap=200``).
    prompt_format: how the models given as directories are prompted (a preset name such as
    ``tofu``, a mapping, a file or a PromptFormat; default: the one stored with each model,
    and a model without one is refused). Model, oracle and reference must agree.
    """
    cfg = EvalConfig() if config is None else config
    if isinstance(cfg, Mapping):
        cfg = EvalConfig.from_dict(dict(cfg))
    if suites is not None:
        overrides = {**overrides, "suites": tuple(suites)}
    if overrides:
        cfg = cfg.with_overrides(overrides)
    t0 = time.perf_counter()
    if data is None:
        needs = [s for s in cfg.suites if s not in DATA_FREE_SUITES]
        if needs:
            raise ConfigError(
                "evaluate",
                "data",
                None,
                f"a data directory: the {', '.join(needs)} suite(s) read benchmark files "
                f"(only {', '.join(sorted(DATA_FREE_SUITES))} runs without; it reads its "
                "task's own files)",
            )
        data_ = EvalData(source="(no data: lm-evaluation-harness tasks only)")
    else:
        data_ = data if isinstance(data, EvalData) else eval_data(data, forget=cfg.forget)
    fmt = prompt_format
    ctx = _context(model, "model", cfg.batch_size, None, progress, fmt)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "eval"
    octx = (
        _context(oracle, "oracle", cfg.batch_size, cache, progress, fmt)
        if oracle is not None
        else None
    )
    if octx is not None and ctx.fingerprint == octx.fingerprint:
        ctx = octx  # the oracle judged by itself: share its passes and cached values
    if reference is None:
        rctx = octx
    else:
        rctx = _context(reference, "reference", cfg.batch_size, cache, progress, fmt)
    require_same_format(
        {
            "model": ctx.adapter.prompt_format,
            "oracle": octx.adapter.prompt_format if octx is not None else None,
            "reference": rctx.adapter.prompt_format if rctx is not None else None,
        }
    )

    def configure(item) -> dict[str, Any]:
        """The settings every item shares (the interval of composites too)."""
        out: dict[str, Any] = {
            "bootstrap": cfg.bootstrap,
            "ci_level": cfg.ci_level,
            "seed": cfg.seed,
        }
        if (
            cfg.max_new_tokens is not None
            and item.kind == "metric"
            and "max_new_tokens" in METRICS.get(item.name).config_class.__dataclass_fields__
        ):
            out["max_new_tokens"] = cfg.max_new_tokens
        if item.kind == "lm_eval":
            limit = cfg.lm_eval_limit
            out |= {
                "tasks": cfg.lm_eval_tasks,
                "include_path": cfg.lm_eval_include,
                "limit": int(limit) if limit is not None and limit >= 1 else limit,
                "num_fewshot": cfg.lm_eval_num_fewshot,
            }
        return out

    results: dict[str, dict[str, Result]] = {}
    skipped: dict[str, dict[str, str]] = {}
    for name in cfg.suites:
        out = run_suite(
            name, ctx, data_, oracle=octx, reference=rctx, progress=progress, configure=configure
        )
        results[name], skipped[name] = out.results, out.skipped

    eff = None
    if record is not None:
        why = None
        if oracle_cost is None and isinstance(oracle, str | Path):
            oracle_cost = oracle_training_cost(oracle)
        elif oracle_cost is None:
            why = (
                "no oracle was given, so there is no retraining cost to compare with"
                if oracle is None
                else "the oracle was given as a model object, which carries no training "
                "record; pass oracle_cost=... (its build.json's train_record) or the oracle's "
                "directory"
            )
        eff = efficiency(record, oracle_cost, no_cost_note=why).to_dict()
    passes = {"model": ctx.counts.to_dict()}
    if octx is not None:
        passes["oracle"] = octx.counts.to_dict()
    if rctx is not None and rctx is not octx:
        passes["reference"] = rctx.counts.to_dict()
    return EvalReport(
        config=cfg.to_dict(),
        model=_describe(model, ctx),
        oracle=_describe(oracle, octx) if octx is not None else None,
        reference=_describe(reference, rctx) if reference is not None and rctx else None,
        data=data_.describe(),
        results=results,
        skipped=skipped,
        efficiency=eff,
        passes=passes,
        wall_time_s=time.perf_counter() - t0,
        versions=library_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
