"""General utility with lm-evaluation-harness tasks, run through our causal-LM adapter.

The harness (EleutherAI's ``lm-eval``, the optional extra ``unlearnkit[lm-eval]``) defines a
task in a YAML file: where its documents are, how a document becomes a prompt
(``doc_to_text``), its choices (``doc_to_choice``) and its answer (``doc_to_target``).
open-unlearning reports MMLU and WMDP this way. Here the harness talks to the model only
through :class:`AdapterLM`, an ``lm_eval`` model whose three requests go through
:class:`~unlearnkit.models.adapters.causal_lm.CausalLMAdapter` (or an
:class:`~unlearnkit.evaluation.context.EvalContext`, which caches and counts the passes):

* ``loglikelihood(context, continuation)``: the summed log-probability of the continuation
  (:meth:`CausalLMAdapter.score`) and whether greedy decoding would produce it. The task's
  own prompt is used as given: no prompt format is applied (tasks carry their prompts).
  As the harness's Hugging Face model does, trailing spaces of the context move to the
  continuation, and the tokenizer's own special tokens (BOS) start the text; an empty
  context is replaced by BOS (EOS without one).
* ``loglikelihood_rolling(text)``: log p(text) in windows of the model's length (the
  harness's rolling windows, each window's spans handed to the adapter as text).
* ``generate_until(context, gen_kwargs)``: :meth:`CausalLMAdapter.generate` with the task's
  ``until`` stop strings and ``max_gen_toks``.

:func:`run_lm_eval_tasks` runs tasks from a local task folder (``include_path``) and returns
one :class:`~unlearnkit.core.results.Result` per task and metric with the per-document
values the harness logs (``acc`` / ``acc_norm`` of each question), the harness's aggregate
and a bootstrap interval, plus the harness's logged samples. Relative ``data_files`` /
``data_dir`` / ``dataset_path`` in a task YAML are read from the YAML's folder (the
harness alone reads them from the working directory). The ``lm_eval`` suite runs this from
the evaluation config (``lm_eval_tasks``, ``lm_eval_include``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.core.results import Result, mean
from unlearnkit.evaluation.stats import bootstrap_ci

if TYPE_CHECKING:
    from unlearnkit.evaluation.context import EvalContext
    from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

try:  # the harness is optional: the module imports without it, AdapterLM needs it
    from lm_eval.api.model import LM as _HarnessLM
except ImportError:  # pragma: no cover - exercised only where lm-eval is missing
    _HarnessLM = object  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "unlearnkit[lm-eval]" (lm-evaluation-harness, lm-eval>=0.4.13)'

#: new tokens of a generation when the task does not say (the harness's default)
DEFAULT_MAX_GEN_TOKS = 256

_GEN_KEYS = ("until", "max_gen_toks", "do_sample", "temperature", "top_p", "top_k")


class LMEvalError(UnlearnkitError):
    """An lm-evaluation-harness task cannot be run (missing package, task, file...)."""


def require_lm_eval() -> None:
    """Fail with how to install the harness when it is missing."""
    if _HarnessLM is object:
        raise LMEvalError(f"running lm-evaluation-harness tasks needs the harness: {INSTALL_HINT}")


# -- the model the harness talks to -----------------------------------------------------------
class AdapterLM(_HarnessLM):  # type: ignore[misc,valid-type]
    """An ``lm_eval`` model whose requests go through our adapter (see the module docstring).

    model: a :class:`CausalLMAdapter`, or an :class:`EvalContext` (its cached, counted
    ``score`` / ``generate``). Texts are the task's own: no prompt format is applied. The
    tokenizer's default special tokens start each text (BOS for Llama-type tokenizers, none
    for GPT-2), as in the harness's own Hugging Face model; an adapter whose prompt format
    adds no special tokens (chat templates) gets the BOS text written before the context.
    """

    def __init__(self, model: CausalLMAdapter | EvalContext) -> None:
        require_lm_eval()
        super().__init__()
        self._scorer = model
        self.adapter: CausalLMAdapter = getattr(model, "adapter", model)  # type: ignore[assignment]
        tok = self.adapter.tokenizer
        probe = list(tok("a")["input_ids"])
        tok_bos = tok.bos_token_id is not None and bool(probe) and probe[0] == tok.bos_token_id
        fmt = getattr(self.adapter, "prompt_format", None)
        adds = bool(getattr(fmt, "add_special_tokens", True))
        #: the adapter's encoding starts every text with BOS by itself
        self._adapter_bos = adds and tok_bos
        #: text written before each context so that it starts as the tokenizer would start it
        self._lead = str(tok.bos_token) if tok_bos and not adds else ""
        #: the context of an empty context: BOS, else EOS (the harness's prefix token)
        self._prefix = (
            ""
            if self._adapter_bos
            else str(tok.bos_token or tok.eos_token or "")
            if (tok.bos_token_id is not None or tok.eos_token_id is not None)
            else ""
        )

    # -- texts ---------------------------------------------------------------------------
    def _with_lead(self, context: str) -> str:
        if self._lead and not context.startswith(self._lead):
            return self._lead + context
        return context

    def pair(self, context: str, continuation: str) -> tuple[str, str]:
        """(prompt, continuation) handed to the adapter for one loglikelihood request."""
        if not context:
            return self._prefix, continuation
        stripped = context.rstrip()
        if len(stripped) < len(context):  # a word's space belongs to its continuation
            continuation = context[len(stripped) :] + continuation
            context = stripped
            if not context:
                return self._prefix, continuation
        return self._with_lead(context), continuation

    # -- requests ------------------------------------------------------------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        if not requests:
            return []
        args = [tuple(r.args) for r in requests]
        pairs = [self.pair(str(c), str(x)) for c, x in args]
        scores = self._scorer.score([p for p, _ in pairs], [c for _, c in pairs])
        out = []
        for a, s in zip(args, scores, strict=True):
            res = (float(s.logprobs.sum()), bool(s.correct.all()))
            self.cache_hook.add_partial("loglikelihood", a, res)
            out.append(res)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        texts = [str(r.args[0]) for r in requests]
        pieces = [self.rolling_pieces(t) for t in texts]
        flat = [(p, c) for ps, _ in pieces for p, c in ps]
        scores = self._scorer.score([p for p, _ in flat], [c for _, c in flat]) if flat else []
        out, k = [], 0
        for i, (text, (ps, n_tokens)) in enumerate(zip(texts, pieces, strict=True)):
            mine = scores[k : k + len(ps)]
            k += len(ps)
            total = sum(float(s.logprobs.sum()) for s in mine)
            scored = sum(s.n_tokens for s in mine)
            if scored != n_tokens:
                warnings.warn(
                    f"rolling log-likelihood of text {i}: {scored} tokens scored where the "
                    f"whole text has {n_tokens} (its windows tokenise differently from the "
                    "whole; the harness's own model scores the whole text's tokens)",
                    stacklevel=2,
                )
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), total)
            out.append(total)
        return out

    def rolling_pieces(self, text: str) -> tuple[list[tuple[str, str]], int]:
        """(prompt, continuation) windows that predict every token of ``text`` once, and
        the number of tokens of ``text``.

        The first window's context is the prefix (BOS / EOS). A text longer than the model
        is cut as the harness cuts it (each window predicts at most the model's length, the
        last one with as much context as fits; the harness's rolling windows with a context
        of one token), except that windows end before a space or newline when one is near, so that
        each window's text splits into the same tokens as the whole text does. The adapter
        adds BOS before every window where the tokenizer starts texts with it.
        """
        if not text:
            return [], 0
        limit = self.adapter.max_length
        tok = self.adapter.tokenizer
        fast = bool(getattr(tok, "is_fast", False))
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=fast)
        n = len(enc["input_ids"])
        # a window holds its context and predicted tokens, and the prefix or BOS
        window = limit - 1 - (1 if self._adapter_bos else 0) if limit else n
        if n <= window:
            return [(self._prefix, text)], n
        if window < 2:
            raise LMEvalError(f"the model's max_length {limit} leaves no room for a window")
        if not fast:
            raise LMEvalError(
                f"a rolling log-likelihood of a text of {n} tokens (longer than the model's "
                f"{limit}) needs a fast tokenizer, which gives the tokens' character spans; "
                "load the model's tokenizer.json"
            )
        # cut[i]: where token i starts in the text (the end of token i - 1); cut[n] = end
        ends = [int(end) for _, end in enc["offset_mapping"]]
        cut = [0, *ends[:-1], len(text)]

        def word_start(i: int) -> bool:
            return 0 < cut[i] < len(text) and text[cut[i]].isspace()

        out: list[tuple[str, str]] = []
        a = 0
        while a < n:
            hi = min(n, a + window)
            b = hi
            if hi < n:
                b = next((i for i in range(hi, a, -1) if word_start(i) and cut[i] > cut[a]), hi)
            continuation = text[cut[a] : cut[b]]
            if a == 0:
                prompt = self._prefix
            else:  # as much context as fits
                start = max(0, a - (window + 1 - (b - a)))
                prompt = text[cut[start] : cut[a]]
            if continuation:
                out.append((prompt, continuation))
            a = b
        return out, n

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        if not requests:
            return []
        args = [(str(r.args[0]), dict(r.args[1] or {})) for r in requests]
        groups: dict[str, list[int]] = {}
        for i, (_, kw) in enumerate(args):
            groups.setdefault(json.dumps(kw, sort_keys=True, default=str), []).append(i)
        out: list[str] = [""] * len(args)
        for idx in groups.values():
            settings = self.generation_settings(args[idx[0]][1])
            prompts = [self._with_lead(args[i][0]) for i in idx]
            texts = self._scorer.generate(prompts, **settings)
            for i, t in zip(idx, texts, strict=True):
                out[i] = t
                self.cache_hook.add_partial("generate_until", args[i], t)
        return out

    @staticmethod
    def generation_settings(gen_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Our :meth:`CausalLMAdapter.generate` settings for a task's ``gen_kwargs``: ``until``
        (a string or a list) become the stop strings, ``max_gen_toks`` the new tokens;
        ``temperature=0`` is greedy, as in the harness."""
        kw = dict(gen_kwargs)
        until = kw.get("until") or []
        stops = (until,) if isinstance(until, str) else tuple(str(s) for s in until)
        temperature = float(kw.get("temperature", 0.0) or 0.0)
        do_sample = bool(kw.get("do_sample", False)) and temperature > 0
        ignored = sorted(set(kw) - set(_GEN_KEYS))
        if ignored:
            warnings.warn(
                f"generation settings {ignored} of the task are not supported and are ignored",
                stacklevel=3,
            )
        settings: dict[str, Any] = {
            "max_new_tokens": int(kw.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS)),
            "stop": stops,
            "do_sample": do_sample,
        }
        if do_sample:
            settings["temperature"] = temperature
            settings["top_p"] = float(kw.get("top_p", 1.0) or 1.0)
            if kw.get("top_k"):
                settings["top_k"] = int(kw["top_k"])
        return settings

    # -- what the harness reads about the model --------------------------------------------
    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.adapter.tokenizer, "name_or_path", "")).replace("/", "__")

    def get_model_info(self) -> dict[str, Any]:
        return {"model_fingerprint": self.adapter.fingerprint()}


# -- running tasks -------------------------------------------------------------------------
@dataclass
class LMEvalOutput:
    """What :func:`run_lm_eval_tasks` found.

    results: one Result per task and metric (``<task>/<metric>``, with ``,<filter>`` for
    filters other than ``none``) and per group (``<group>/<metric>``: its documents' values,
    the harness's group aggregate). samples: the harness's logged samples by task (document,
    arguments, responses, per-document metrics). raw: the rest of the harness's output
    (results, configs, versions, n-shot), JSON-ready.
    """

    results: dict[str, Result] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def run_lm_eval_tasks(
    model: CausalLMAdapter | EvalContext,
    tasks: Sequence[str],
    include_path: str | Path | None = None,
    *,
    limit: int | float | None = None,
    num_fewshot: int | None = None,
    include_defaults: bool | None = None,
    bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    fewshot_seed: int = 1234,
) -> LMEvalOutput:
    """Run lm-evaluation-harness ``tasks`` on ``model`` through :class:`AdapterLM`.

    tasks: task, group or tag names (or paths of task YAMLs). include_path: a folder (or
    YAML file) of task YAMLs; relative data paths in them are read from the YAML's folder.
    include_defaults: also index the harness's built-in tasks (default: only when no
    include_path is given; the built-in tasks read their data from the Hugging Face hub or
    its local cache). limit: documents per task (a fraction when < 1). num_fewshot:
    examples in each prompt (default: the task's). bootstrap / ci_level / seed: the
    interval of each aggregate, as for every unlearnkit result (0: none). fewshot_seed:
    the harness's few-shot sampler seed (its default). Nothing else is seeded: the caller's
    random state is left alone.
    """
    require_lm_eval()
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    names = [tasks] if isinstance(tasks, str) else list(tasks)
    if not names or not all(isinstance(t, str) and t for t in names):
        raise LMEvalError(f"give one or more lm-eval task names, got {tasks!r}")
    include = None
    if include_path is not None:
        include = Path(include_path).expanduser()
        if not include.exists():
            raise LMEvalError(
                f"the lm-eval task folder {str(include)!r} does not exist; give the folder "
                "(or YAML file) that holds your task YAMLs"
            )
    if include_defaults is None:
        include_defaults = include is None
    if include is None and not include_defaults:
        raise LMEvalError("no tasks to choose from: give include_path or include_defaults=True")
    manager = TaskManager(
        include_path=str(include) if include is not None else None,
        include_defaults=include_defaults,
    )
    for name in names:
        _check_task(name, manager, include)
    if include is not None:
        _localise_data_paths(names, manager, include)
    lm = AdapterLM(model)
    try:
        out = simple_evaluate(
            model=lm,
            tasks=names,
            task_manager=manager,
            limit=limit,
            num_fewshot=num_fewshot,
            log_samples=True,
            bootstrap_iters=0,
            random_seed=None,
            numpy_random_seed=None,
            torch_random_seed=None,
            fewshot_random_seed=fewshot_seed,
        )
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise LMEvalError(f"lm-eval could not run {names}: {exc}") from exc
    if out is None:  # only on ranks other than 0 of a distributed run
        return LMEvalOutput()
    return _collect(
        out,
        bootstrap=bootstrap,
        ci_level=ci_level,
        seed=seed,
        config={
            "tasks": names,
            "include_path": str(include) if include is not None else None,
            "limit": limit,
            "num_fewshot": num_fewshot,
        },
    )


def run_suite_item(
    ctx: EvalContext | CausalLMAdapter, config: Mapping[str, Any]
) -> tuple[dict[str, Result], str | None]:
    """The ``lm_eval`` suite's item: its results, or none and why (no tasks were named).

    config: ``tasks`` (names), ``include_path``, ``limit``, ``num_fewshot`` and the interval
    settings ``bootstrap`` / ``ci_level`` / ``seed`` (what :func:`evaluate` passes from
    :class:`EvalConfig`'s ``lm_eval_*`` fields).
    """
    tasks = list(config.get("tasks") or ())
    if not tasks:
        return {}, (
            "no lm-eval tasks named: set lm_eval_tasks=[...] and lm_eval_include=<the folder "
            "of your task YAMLs>"
        )
    out = run_lm_eval_tasks(
        ctx,
        tasks,
        config.get("include_path"),
        limit=config.get("limit"),
        num_fewshot=config.get("num_fewshot"),
        bootstrap=int(config.get("bootstrap", 1000)),
        ci_level=float(config.get("ci_level", 0.95)),
        seed=int(config.get("seed", 0)),
    )
    return out.results, None


def _check_task(name: str, manager: Any, include: Path | None) -> None:
    """Fail, listing what there is, when ``name`` is neither a known task / group / tag nor
    a task YAML file."""
    if name in manager.task_index:
        return
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return
    raise LMEvalError(_unknown_task_message(name, manager, include))


def _unknown_task_message(name: str, manager: Any, include: Path | None) -> str:
    known = sorted(manager.all_tasks)
    where = f"under {str(include)!r}" if include is not None else "in the harness"
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    if len(known) <= 40:
        listing = f"the tasks {where}: {', '.join(known) or '(none)'}"
    else:
        listing = f"{len(known)} tasks {where}" + (
            f"; closest: {', '.join(close)}" if close else ""
        )
    hint = "" if include is not None else "; give include_path= the folder of your task YAMLs"
    return f"unknown lm-eval task {name!r}; {listing}{hint}"


def _localise_data_paths(names: Sequence[str], manager: Any, include: Path) -> None:
    """Point the tasks ``names`` reach (through groups and tags) in the include folder at
    their data: relative data paths of a task YAML are made absolute against its folder,
    in the task manager's index. With a harness whose index is laid out otherwise, the
    paths are left to the harness (read from the working directory)."""
    try:
        from lm_eval.tasks._yaml_loader import load_yaml

        index = manager.task_index
        root = (include if include.is_dir() else include.parent).resolve()
        seen: set[str] = set()

        def visit(name: str) -> None:
            entry = index.get(name)
            if entry is None or name in seen:
                return
            seen.add(name)
            kind = entry.kind.name
            if kind == "TAG":
                for t in sorted(entry.tags):
                    visit(t)
                return
            path = entry.yaml_path
            if path is None or root not in Path(path).resolve().parents:
                return  # generated, or a built-in task
            cfg = load_yaml(path, resolve_func=kind == "TASK")
            if kind == "GROUP":
                for child in cfg.get("task") or []:
                    if isinstance(child, str):
                        visit(child)
                    elif isinstance(child, Mapping) and isinstance(child.get("task"), str):
                        visit(child["task"])
            elif kind == "TASK" and _absolute_data_paths(cfg, Path(path).parent):
                index[name] = dataclasses.replace(entry, yaml_path=None, cfg=cfg)

        for name in names:
            visit(name)
    except (ImportError, AttributeError, TypeError) as exc:
        log.debug("relative data paths left to the harness (%s)", exc)


def _absolute_data_paths(cfg: dict[str, Any], folder: Path) -> bool:
    """Make ``dataset_path`` / ``dataset_kwargs.data_files`` / ``data_dir`` absolute where
    they name a file or folder next to the YAML (in place); whether any changed."""

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            p = Path(value).expanduser()
            if not p.is_absolute() and (folder / p).exists():
                return str((folder / p).resolve())
            return value
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    before = copy.deepcopy({k: cfg.get(k) for k in ("dataset_path", "dataset_kwargs")})
    if isinstance(cfg.get("dataset_path"), str):
        cfg["dataset_path"] = fix(cfg["dataset_path"])
    kwargs = cfg.get("dataset_kwargs")
    if isinstance(kwargs, dict):
        for key in ("data_files", "data_dir"):
            if key in kwargs:
                kwargs[key] = fix(kwargs[key])
    return before != {k: cfg.get(k) for k in ("dataset_path", "dataset_kwargs")}


# -- the harness's output as results -------------------------------------------------------
def _collect(
    out: Mapping[str, Any], *, bootstrap: int, ci_level: float, seed: int, config: dict
) -> LMEvalOutput:
    samples: dict[str, list[dict[str, Any]]] = dict(out.get("samples") or {})
    task_results: Mapping[str, Mapping[str, Any]] = out.get("results") or {}
    better: Mapping[str, Mapping[str, Any]] = out.get("higher_is_better") or {}
    configs: Mapping[str, Mapping[str, Any]] = out.get("configs") or {}
    results: dict[str, Result] = {}
    per_doc: dict[tuple[str, str, str], tuple[list[str], list[float]]] = {}
    for task, rows in samples.items():
        aggregations = _aggregations(configs.get(task, {}))
        by_key: dict[tuple[str, str], tuple[list[str], list[float]]] = {}
        for row in rows:
            filt = str(row.get("filter", "none"))
            for metric in row.get("metrics") or []:
                if metric not in row:
                    continue
                ids, vals = by_key.setdefault((metric, filt), ([], []))
                ids.append(str(row["doc_id"]))
                vals.append(_doc_value(row[metric], aggregations.get(metric)))
        for (metric, filt), (ids, vals) in by_key.items():
            agg_key = f"{metric},{filt}"
            agg = task_results.get(task, {}).get(agg_key)
            name = f"{task}/{metric}" + ("" if filt == "none" else f",{filt}")
            hib = bool(better.get(task, {}).get(metric, True))
            results[name] = _result(
                name,
                ids,
                vals,
                agg,
                hib,
                mean_aggregate=aggregations.get(metric, "mean") == "mean",
                stderr=task_results.get(task, {}).get(f"{metric}_stderr,{filt}"),
                config={**config, "task": task, "metric": metric, "filter": filt},
                bootstrap=bootstrap,
                ci_level=ci_level,
                seed=seed,
            )
            per_doc[(task, metric, filt)] = (ids, vals)
    for group, members in (out.get("group_subtasks") or {}).items():
        agg_row = (out.get("groups") or {}).get(group) or task_results.get(group) or {}
        for agg_key, agg in agg_row.items():
            if "," not in agg_key or "_stderr" in agg_key or not _is_number(agg):
                continue
            metric, filt = agg_key.split(",", 1)
            ids, vals = [], []
            for leaf in _leaves(group, out.get("group_subtasks") or {}):
                got = per_doc.get((leaf, metric, filt))
                if got is not None:
                    ids += [f"{leaf}:{i}" for i in got[0]]
                    vals += got[1]
            if not members or not vals:
                continue
            name = f"{group}/{metric}" + ("" if filt == "none" else f",{filt}")
            by_size = math.isclose(float(agg), mean(vals), rel_tol=1e-9, abs_tol=1e-12)
            results[name] = _result(
                name,
                ids,
                vals,
                agg,
                bool(better.get(group, {}).get(metric, True)),
                mean_aggregate=by_size,
                stderr=None,
                config={**config, "group": group, "metric": metric, "filter": filt},
                bootstrap=bootstrap,
                ci_level=ci_level,
                seed=seed,
            )
    raw = {k: _jsonable(v) for k, v in out.items() if k != "samples"}
    return LMEvalOutput(results=results, samples=_jsonable(samples), raw=raw)


def _leaves(group: str, tree: Mapping[str, Sequence[str]]) -> list[str]:
    out: list[str] = []
    for child in tree.get(group, []):
        out += _leaves(child, tree) if child in tree else [child]
    return out


def _result(
    name: str,
    ids: list[str],
    values: list[float],
    aggregate: Any,
    higher_is_better: bool,
    *,
    mean_aggregate: bool,
    stderr: Any,
    config: dict[str, Any],
    bootstrap: int,
    ci_level: float,
    seed: int,
) -> Result:
    agg = float(aggregate) if _is_number(aggregate) else mean(values)
    extra: dict[str, Any] = {"source": "lm-evaluation-harness", "n": len(values)}
    if _is_number(stderr):
        extra["stderr"] = float(stderr)
    res = Result.from_values(
        name,
        values,
        higher_is_better=higher_is_better,
        ids=ids if len(set(ids)) == len(ids) else None,
        aggregate=agg,
        config=config,
        extra=extra,
    )
    if bootstrap > 0 and mean_aggregate and values and not math.isnan(agg):
        low, high = bootstrap_ci(values, n_resamples=bootstrap, level=ci_level, seed=seed)
        res = res.with_ci(low, high)
    return res


def _aggregations(task_config: Mapping[str, Any]) -> dict[str, str]:
    """metric -> the name of its aggregation, from the task's metric_list (default mean)."""
    out: dict[str, str] = {}
    for m in task_config.get("metric_list") or []:
        if isinstance(m, Mapping) and "metric" in m:
            agg = m.get("aggregation", "mean")
            out[str(m["metric"])] = agg if isinstance(agg, str) else getattr(agg, "__name__", "")
    return out


def _doc_value(value: Any, aggregation: str | None) -> float:
    """One document's value: the harness's per-document number, or for pairs such as the
    perplexities' (log-likelihood, length), the task's aggregation of that document alone
    (its own perplexity); NaN where that is undefined."""
    if _is_number(value) or isinstance(value, bool):
        return float(value)
    fn: Callable[[list[Any]], Any] | None = None
    if aggregation:
        try:
            from lm_eval.api.registry import get_aggregation

            fn = get_aggregation(aggregation)  # None for a name it does not register
        except (ImportError, AttributeError, KeyError, TypeError):
            # a harness version without this lookup (ImportError), or whose lookup raises
            # KeyError for an unknown name; a lazily loaded aggregation that fails to load
            # (ImportError, AttributeError, TypeError: lm_eval's Registry.get)
            fn = None
    if fn is None:
        return math.nan
    try:
        v = fn([value])
    except (ArithmeticError, LookupError, TypeError, ValueError):
        # undefined for this document alone: a perplexity's exp overflows
        # (OverflowError), a weighted mean of zero weight (ZeroDivisionError), a value of
        # another shape than the aggregation takes (TypeError, ValueError, IndexError),
        # a corpus statistic (sklearn, sacrebleu) that needs more than one document
        return math.nan
    return float(v) if _is_number(v) else math.nan


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) or _is_numpy_number(v)


def _is_numpy_number(v: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(v, np.integer | np.floating)


def _jsonable(value: Any) -> Any:
    """``value`` with everything JSON cannot hold (numpy numbers, tuples, functions...) as
    plain types or strings."""
    return json.loads(json.dumps(value, default=_plain))


def _plain(v: Any) -> Any:
    if _is_numpy_number(v):
        return v.item()
    if isinstance(v, set | frozenset):
        return sorted(v, key=str)
    return str(v)


__all__ = [
    "INSTALL_HINT",
    "AdapterLM",
    "LMEvalError",
    "LMEvalOutput",
    "require_lm_eval",
    "run_lm_eval_tasks",
    "run_suite_item",
]
