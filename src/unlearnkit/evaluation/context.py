"""One model under evaluation, with its teacher-forced scores and generations shared.

Every metric asks the :class:`EvalContext` for what it needs: ``score(prompts,
continuations)`` for teacher-forced per-token log-probs, ``generate(prompts)`` for greedy
generations. Both are cached per (prompt, continuation) pair and per (prompt, generation
settings), so the probability, truth-ratio, memorisation and MIA metrics on one split share
one teacher-forced pass, and every ROUGE-type metric on one split shares one set of
generations. A suite asks for everything a split needs up front (:meth:`EvalContext.score`
with all the pairs at once), so each split costs one batched pass.

The context also counts what it did (:class:`PassCounts`): forward calls of the model
(each generation step is one), sequences scored and generated, and cache hits.

Results of a context can be memoised (:meth:`EvalContext.memo`): in memory always, and on
disk when the context has a cache directory. The oracle's reference values (its truth ratios,
its MIA AUCs) are memoised on disk under its model fingerprint, so they are computed once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.results import Result
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter, ContinuationScores


@dataclass
class PassCounts:
    """What one context made its model do.

    forward_calls: calls of the model's forward (a teacher-forced batch is one; greedy
    generation makes one per new token). scored / generated: sequences scored teacher-forced
    and generated. score_hits / generate_hits: requests answered from the cache. grad_calls:
    forward + backward passes made for gradient-based scores (GradNorm).
    """

    forward_calls: int = 0
    scored: int = 0
    generated: int = 0
    score_hits: int = 0
    generate_hits: int = 0
    grad_calls: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class EvalContext:
    """A model under evaluation: cached teacher-forced scores, generations and results.

    adapter: the model. name: how reports call it ("model", "oracle", "reference").
    cache_dir: where memoised results are kept on disk (``None``: in memory only).
    progress: show progress bars on long passes.
    """

    def __init__(
        self,
        adapter: CausalLMAdapter,
        *,
        name: str = "model",
        cache_dir: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        self.adapter = adapter
        self.name = name
        self.progress = progress
        self.fingerprint = adapter.fingerprint()
        self.counts = PassCounts()
        self._cache = Cache(cache_dir) if cache_dir is not None else None
        self._scores: dict[tuple[str, str], ContinuationScores] = {}
        self._generations: dict[tuple[str, str], str] = {}
        self._results: dict[str, Result] = {}
        self._hook = None

    # -- counting -------------------------------------------------------------------------
    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count the model's forward calls while inside (nesting is harmless)."""
        if self._hook is not None:
            yield
            return

        def hook(module: Any, args: Any) -> None:
            self.counts.forward_calls += 1

        self._hook = self.adapter.model.register_forward_pre_hook(hook)
        try:
            yield
        finally:
            self._hook.remove()
            self._hook = None

    # -- teacher-forced scores ------------------------------------------------------------
    def score(
        self, prompts: Sequence[str], continuations: Sequence[str]
    ) -> list[ContinuationScores]:
        """Teacher-forced scores of each continuation given its prompt, in input order.

        Only pairs not scored before are run, in one batched pass.
        """
        if len(prompts) != len(continuations):
            raise ValueError(
                f"{len(prompts)} prompts but {len(continuations)} continuations; "
                "give one continuation per prompt"
            )
        pairs = list(zip(prompts, continuations, strict=True))
        todo = list(dict.fromkeys(p for p in pairs if p not in self._scores))
        new = set(todo)
        self.counts.score_hits += len(pairs) - sum(1 for p in pairs if p in new)
        if todo:
            with self.counting():
                scored = self.adapter.score(
                    [p for p, _ in todo], [c for _, c in todo], progress=self.progress
                )
            self.counts.scored += len(todo)
            self._scores.update(zip(todo, scored, strict=True))
        return [self._scores[p] for p in pairs]

    # -- generations ----------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], **settings: Any) -> list[str]:
        """Greedy generations (cut at EOS and stop strings), cached per prompt and settings."""
        tag = json.dumps(settings, sort_keys=True, default=str)
        keys = [(p, tag) for p in prompts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._generations))
        new = set(todo)
        self.counts.generate_hits += len(keys) - sum(1 for k in keys if k in new)
        if todo:
            with self.counting():
                outs = self.adapter.generate(
                    [p for p, _ in todo], progress=self.progress, **settings
                )
            self.counts.generated += len(todo)
            self._generations.update(zip(todo, outs, strict=True))
        return [self._generations[k] for k in keys]

    # -- memoised results -----------------------------------------------------------------
    def memo(self, key: Mapping[str, Any], build: Callable[[], Result]) -> Result:
        """The result identified by ``key`` for this model: built once, then reused.

        ``key`` must determine the result given the model (metric, config, data hash); the
        model's fingerprint is added here. With a cache directory the result is kept on
        disk too, so another process evaluating against the same model reuses it.
        """
        full = {"fingerprint": self.fingerprint, **key}
        digest = content_hash(full)
        if digest in self._results:
            return self._results[digest]
        if self._cache is None:
            result = build()
        else:
            holder: list[Result] = []

            def write(tmp: Path) -> None:
                holder.append(build())
                (tmp / "result.json").write_text(json.dumps(holder[0].to_dict()))

            path, _ = self._cache.get_or_build("results", full, write)
            result = (
                holder[0]
                if holder
                else Result.from_dict(json.loads((path / "result.json").read_text()))
            )
        self._results[digest] = result
        return result


def records_hash(records: Sequence[Mapping[str, Any]]) -> str:
    """A content hash of a list of records (what a memoised result was computed on)."""
    return content_hash([dict(r) for r in records])
