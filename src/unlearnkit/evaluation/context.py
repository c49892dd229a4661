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
its MIA AUCs) are memoised on disk under its model fingerprint, its tokenizer and its prompt
format (:meth:`EvalContext.passes_key`), so they are computed once, and again whenever the
prompt format or the tokenizer changes.

With a ``passes_dir`` the passes themselves are kept on disk too (:meth:`EvalContext.save`),
under the same key of the model's weights, its tokenisation and its prompt format: the
teacher-forced scores (without full distributions), the generations and per-example values
such as GradNorm's. A later
context of the same model starts from them, so evaluating it again with other settings
(intervals, metrics, suites over the same splits) runs no forward pass it ran before.
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
    passes_dir: where scores, generations and per-example values are kept on disk across
    contexts of the same model (``None``: in memory only; see :meth:`save`).
    progress: show progress bars on long passes.
    """

    def __init__(
        self,
        adapter: CausalLMAdapter,
        *,
        name: str = "model",
        cache_dir: str | Path | None = None,
        passes_dir: str | Path | None = None,
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
        self._values: dict[tuple[str, str, str], float] = {}
        self._tokenizer_key: dict[str, Any] | None = None
        self._hook = None
        self._passes = PassStore(passes_dir, self.passes_key()) if passes_dir else None
        self._saved = (0, 0, 0)
        if self._passes is not None:
            self._scores, self._generations, self._values = self._passes.load()
            self._saved = (len(self._scores), len(self._generations), len(self._values))

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

    # -- per-example values ---------------------------------------------------------------
    def values(
        self,
        kind: str,
        prompts: Sequence[str],
        continuations: Sequence[str],
        compute: Callable[[list[tuple[str, str]]], Sequence[float]],
    ) -> list[float]:
        """Per-example values of kind ``kind`` (e.g. ``"gradnorm"``), in input order.

        ``compute(pairs)`` is called once with the pairs not seen before and must return
        one value per pair; its values are cached (and kept with the passes).
        """
        pairs = list(zip(prompts, continuations, strict=True))
        todo = list(dict.fromkeys(p for p in pairs if (kind, *p) not in self._values))
        if todo:
            fresh = list(compute(todo))
            if len(fresh) != len(todo):
                raise ValueError(f"{kind}: computed {len(fresh)} values for {len(todo)} pairs")
            self._values.update(((kind, *p), float(v)) for p, v in zip(todo, fresh, strict=True))
        return [self._values[(kind, *p)] for p in pairs]

    # -- passes on disk -------------------------------------------------------------------
    def passes_key(self) -> dict[str, Any]:
        """What the passes and memoised results of this model depend on: its weights, its
        tokenisation (:meth:`tokenizer_key`, the longest sequence) and its prompt format."""
        fmt = getattr(self.adapter, "prompt_format", None)
        return {
            "format": PASSES_FORMAT,
            "fingerprint": self.fingerprint,
            "max_length": self.adapter.max_length,
            **self.tokenizer_key(),
            "prompt_format": fmt.to_dict() if fmt is not None else None,
        }

    def tokenizer_key(self) -> dict[str, Any]:
        """A digest of the tokenizer: its class, size and special ids, its vocabulary, its
        chat template and how it encodes a probe text with special tokens (BOS / EOS
        handling). Computed once per context (hashing a 150k vocabulary takes a moment)."""
        if self._tokenizer_key is None:
            tok = self.adapter.tokenizer
            template = getattr(tok, "chat_template", None)
            probe = tok("Question: Who?\nAnswer: Her.", add_special_tokens=True)["input_ids"]
            self._tokenizer_key = {
                "tokenizer": [type(tok).__name__, len(tok), tok.bos_token_id, tok.eos_token_id],
                "vocab": content_hash(sorted(tok.get_vocab().items())),
                "chat_template": content_hash(template) if template else None,
                "probe": list(probe),
            }
        return dict(self._tokenizer_key)

    def save(self) -> bool:
        """Write the passes made since they were loaded to the ``passes_dir`` (atomically);
        returns whether there was anything new to write."""
        sizes = (len(self._scores), len(self._generations), len(self._values))
        if self._passes is None or sizes == self._saved:
            return False
        self._passes.save(self._scores, self._generations, self._values)
        self._saved = sizes
        return True

    # -- memoised results -----------------------------------------------------------------
    def memo(self, key: Mapping[str, Any], build: Callable[[], Result]) -> Result:
        """The result identified by ``key`` for this model: built once, then reused.

        ``key`` must determine the result given the model (metric, config, data hash); what
        the model adds is added here: its weights, tokenizer and prompt format
        (:meth:`passes_key`) and the version of the metric definitions. With a cache
        directory the result is kept on disk too, so another process evaluating against the
        same model reuses it.
        """
        full = {"definitions": MEMO_FORMAT, "model": self.passes_key(), **key}
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


#: Version of what passes on disk hold (2: keyed by the prompt format too, answers scored
#: with the EOS they end with).
PASSES_FORMAT = 2
#: Version of the metric definitions behind memoised results (2: open-unlearning's
#: definitions, see docs/metrics.md): results memoised under another version are not reused.
MEMO_FORMAT = 2


class PassStore:
    """The passes of one model on disk, in one safetensors file: every scored pair's token
    ids, log-probs, argmax ids, moments and offsets (concatenated), and in its metadata the
    pairs, generations and per-example values. Written to a temporary file and renamed into
    place; a file that cannot be read is ignored (and rewritten): it is only a cache."""

    def __init__(self, root: str | Path, key: Mapping[str, Any]) -> None:
        self.path = Path(root) / f"{content_hash(dict(key))}.safetensors"
        self.key = dict(key)

    def load(
        self,
    ) -> tuple[
        dict[tuple[str, str], ContinuationScores],
        dict[tuple[str, str], str],
        dict[tuple[str, str, str], float],
    ]:
        from safetensors import SafetensorError, safe_open

        if not self.path.is_file():
            return {}, {}, {}
        try:
            with safe_open(str(self.path), framework="pt") as f:
                meta = json.loads(f.metadata()["passes"])
                tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError, KeyError, TypeError):
            # unreadable or partial, start afresh: a truncated or foreign file
            # (SafetensorError), a read error (OSError), metadata that is not JSON
            # (ValueError), without our "passes" (KeyError) or without any (None: TypeError)
            return {}, {}, {}
        if meta.get("key") != self.key:
            return {}, {}, {}
        lengths = tensors["lengths"].tolist()
        parts = {
            name: tensors[name].split(lengths)
            for name in ("token_ids", "logprobs", "argmax_ids", "mu", "sigma2", "offsets")
        }
        scores = {}
        for i, ((prompt, cont), has_offsets) in enumerate(
            zip(meta["pairs"], meta["has_offsets"], strict=True)
        ):
            offsets = tuple(map(tuple, parts["offsets"][i].tolist())) if has_offsets else None
            scores[(prompt, cont)] = ContinuationScores(
                token_ids=parts["token_ids"][i].clone(),
                logprobs=parts["logprobs"][i].clone(),
                argmax_ids=parts["argmax_ids"][i].clone(),
                offsets=offsets,
                moments=(parts["mu"][i].clone(), parts["sigma2"][i].clone()),
            )
        generations = {(p, tag): text for p, tag, text in meta["generations"]}
        values = {(k, p, c): float(v) for k, p, c, v in meta["values"]}
        return scores, generations, values

    def save(
        self,
        scores: Mapping[tuple[str, str], ContinuationScores],
        generations: Mapping[tuple[str, str], str],
        values: Mapping[tuple[str, str, str], float],
    ) -> None:
        import os
        import tempfile

        import torch
        from safetensors.torch import save_file

        items = list(scores.items())
        lengths = [s.n_tokens for _, s in items]

        def cat(get, dtype, shape=()):
            chunks = [get(s).reshape(-1, *shape).to(dtype) for _, s in items]
            return torch.cat(chunks) if chunks else torch.zeros((0, *shape), dtype=dtype)

        def offsets(s: ContinuationScores) -> torch.Tensor:
            if s.offsets is None:
                return torch.full((s.n_tokens, 2), -1, dtype=torch.long)
            return torch.tensor(s.offsets, dtype=torch.long).reshape(-1, 2)

        tensors = {
            "lengths": torch.tensor(lengths, dtype=torch.long),
            "token_ids": cat(lambda s: s.token_ids, torch.long),
            "logprobs": cat(lambda s: s.logprobs, torch.float32),
            "argmax_ids": cat(lambda s: s.argmax_ids, torch.long),
            "mu": cat(
                lambda s: s.moments[0] if s.moments else torch.full((s.n_tokens,), float("nan")),
                torch.float32,
            ),
            "sigma2": cat(
                lambda s: s.moments[1] if s.moments else torch.full((s.n_tokens,), float("nan")),
                torch.float32,
            ),
            "offsets": cat(offsets, torch.long, (2,)),
        }
        meta = {
            "key": self.key,
            "pairs": [list(k) for k, _ in items],
            "has_offsets": [s.offsets is not None for _, s in items],
            "generations": [[p, tag, text] for (p, tag), text in generations.items()],
            "values": [[k, p, c, v] for (k, p, c), v in values.items()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", dir=self.path.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"passes": json.dumps(meta)})
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; honour the umask instead
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def records_hash(records: Sequence[Mapping[str, Any]]) -> str:
    """A content hash of a list of records (what a memoised result was computed on)."""
    return content_hash([dict(r) for r in records])
