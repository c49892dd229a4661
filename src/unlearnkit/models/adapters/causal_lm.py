"""The causal-LM adapter: the one door metrics, attacks and methods go through.

It offers, batched and sorted by length (results always come back in input order):

* :meth:`CausalLMAdapter.score` — teacher-forced per-token log-probs of a continuation
  given a prompt (prompt and padding masked), the argmax token at each position, and on
  demand the full next-token log-distribution at each continuation position;
* :meth:`CausalLMAdapter.generate` — greedy or sampled generation with stop strings and the
  KV cache;
* :meth:`CausalLMAdapter.hidden_states` — hidden states at a chosen layer.

Attention masks come from sequence lengths, never from ``token == pad_id``: when the pad
token equals eos (common in real checkpoints), a real eos must stay visible.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from tqdm.auto import tqdm
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
)
from transformers import StoppingCriteriaList as _StoppingCriteriaList

from unlearnkit.data.formatting import BoundPromptFormat, PromptFormat, bind_prompt_format
from unlearnkit.models.adapters.base import model_fingerprint
from unlearnkit.models.encoding import (
    Encoded,
    collate,
    encode_pairs,
    length_sorted_batches,
    pad_token_id,
)
from unlearnkit.models.packing import Unit, pack_units, packed_inputs, single_units, unit_batches


@dataclass(frozen=True)
class ContinuationScores:
    """Teacher-forced scores of one continuation (``T`` continuation tokens).

    token_ids (T,): the continuation's tokens. logprobs (T,): log p(y_t | x, y_<t).
    argmax_ids (T,): the most likely token at each position. offsets: character span of
    each token inside the continuation string (fast tokenizers only). dist (T, V): full
    next-token log-distribution, only when asked for (``distributions=True``).
    moments: ``(mu, sigma2)``, each (T,): mean and variance of log p_v under the model's own
    next-token distribution at each position, mu_t = sum_v p_v log p_v (what Min-K%++
    standardises with; kept so that attack never needs the (T, V) distribution).
    """

    token_ids: torch.Tensor
    logprobs: torch.Tensor
    argmax_ids: torch.Tensor
    offsets: tuple[tuple[int, int], ...] | None = None
    dist: torch.Tensor | None = None
    moments: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def n_tokens(self) -> int:
        return int(self.token_ids.numel())

    @property
    def nll(self) -> float:
        """-Σ_t log p(y_t | x, y_<t)."""
        return -float(self.logprobs.sum())

    @property
    def avg_nll(self) -> float:
        """nll / T (NaN for an empty continuation)."""
        return self.nll / self.n_tokens if self.n_tokens else math.nan

    @property
    def correct(self) -> torch.Tensor:
        """(T,) bool: argmax prediction equals the label."""
        return self.argmax_ids == self.token_ids


class _StopOnStrings(StoppingCriteria):
    """Per-row stop once any stop string appears in the generated text."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], start: int):
        self.tokenizer, self.stops, self.start = tokenizer, list(stops), start
        # A stop string of n characters spans at most n tokens (plus one partial on each side).
        self.window = max(len(s) for s in self.stops) + 2

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any):
        tail = input_ids[:, max(self.start, input_ids.shape[1] - self.window) :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=False)
        done = [any(s in t for s in self.stops) for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    """Whether ``model``'s forward takes ``logits_to_keep`` (transformers' causal LMs do):
    the output layer then runs only on the positions a score or a loss reads. Wrappers
    (PEFT, DDP) forward their keyword arguments, so the wrapped model's forward decides."""
    return _forward_takes(model, "logits_to_keep")


def _forward_takes(model: torch.nn.Module, name: str) -> bool:
    import inspect

    inner = model
    for _ in range(4):
        if hasattr(inner, "get_base_model"):
            inner = inner.get_base_model()
        elif isinstance(getattr(inner, "module", None), torch.nn.Module):
            inner = inner.module
        else:
            break
    key = (type(inner), name)
    if key not in _FORWARD_TAKES:
        try:
            params = inspect.signature(inner.forward).parameters
        except (TypeError, ValueError):
            params = {}
        _FORWARD_TAKES[key] = name in params
    return _FORWARD_TAKES[key]


_FORWARD_TAKES: dict[tuple[type, str], bool] = {}


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Evaluation mode (no dropout) inside, the caller's mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _bare_generation_config(model: torch.nn.Module):
    """transformers fills the unset fields of a passed generation config from the
    checkpoint's (repetition penalties, forced tokens, ...): hide it for the call."""
    saved = getattr(model, "generation_config", None)
    model.generation_config = GenerationConfig()
    try:
        yield
    finally:
        model.generation_config = saved


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


class CausalLMAdapter:
    """Wraps a Hugging Face causal LM and its tokenizer.

    batch_size: default batch size for every query. max_length: longest sequence (defaults
    to the model's ``max_position_embeddings``); prompts are cut from the left to fit.
    prompt_format: how QA records become prompts for this model (stored with our models);
    kept bound to the tokenizer (:class:`~unlearnkit.data.formatting.BoundPromptFormat`), so
    ``adapter.prompt_format.prompt(question)`` is the text the model was trained on.
    """

    family: ClassVar[str] = "causal_lm"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        prompt_format: PromptFormat | BoundPromptFormat | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None)
        self.prompt_format: BoundPromptFormat = bind_prompt_format(prompt_format, tokenizer)
        self.pad_id = pad_token_id(tokenizer)
        #: longest packed scoring sequence (see :meth:`score`)
        self.pack_tokens = 512
        self._packs: bool | None = None

    # -- generic contract ---------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def fingerprint(self) -> str:
        return model_fingerprint(self.model)

    def save(self, path: str | Path) -> Path:
        from unlearnkit.models.loading import save_causal_lm

        return save_causal_lm(
            self.model, self.tokenizer, path, prompt_format=self.prompt_format.format
        )

    @classmethod
    def from_pretrained(cls, source: str | Path, **kwargs: Any) -> CausalLMAdapter:
        """Load any local HF causal-LM directory (or hub id when online); see
        :func:`unlearnkit.models.loading.load_causal_lm` for the options."""
        from unlearnkit.models.loading import load_causal_lm

        batch_size = kwargs.pop("batch_size", 64)
        model, tokenizer, fmt = load_causal_lm(source, **kwargs)
        adapter = cls(model, tokenizer, batch_size=batch_size, prompt_format=fmt)
        meta_path = Path(source).expanduser() / "unlearnkit.json"
        if meta_path.is_file():  # an inference-time method saved with the model
            import json

            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if "inference_time" in meta:
                from unlearnkit.models.adapters.wrappers import wrap_saved

                directory = str(Path(source).expanduser())
                return wrap_saved(adapter, {**meta["inference_time"], "directory": directory})
        return adapter

    def like(self, model: PreTrainedModel) -> CausalLMAdapter:
        """An adapter of the same kind (same tokenizer, settings and any inference-time
        wrapper) around another model, e.g. a quantized or fine-tuned copy."""
        return CausalLMAdapter(
            model,
            self.tokenizer,
            batch_size=self.batch_size,
            max_length=self.max_length,
            prompt_format=self.prompt_format,
        )

    # -- teacher-forced scoring ----------------------------------------------------------------
    def encode(
        self,
        prompt: str,
        continuation: str,
        *,
        with_offsets: bool = False,
        max_length: int | None = None,
    ) -> Encoded:
        """Token ids of ``prompt + continuation`` with the prompt/continuation boundary.

        Without a BOS token and with an empty prompt, the first continuation token becomes
        the context (it cannot be predicted from nothing) and is not scored.
        """
        (enc,) = self.encode_many(
            [prompt], [continuation], with_offsets=with_offsets, max_length=max_length
        )
        return enc

    def encode_many(
        self,
        prompts: Sequence[str],
        continuations: Sequence[str],
        *,
        with_offsets: bool = False,
        max_length: int | None = None,
    ) -> list[Encoded]:
        """:meth:`encode` of many pairs (a fast tokenizer encodes them in one call)."""
        limit = max_length or self.max_length
        fmt = self.prompt_format
        encoded = encode_pairs(
            self.tokenizer,
            prompts,
            continuations,
            max_length=limit,
            with_offsets=with_offsets and self.tokenizer.is_fast,
            add_special_tokens=fmt.add_special_tokens,
            boundary=fmt.boundary,  # type: ignore[arg-type]
        )
        return [self._with_context(enc, limit) for enc in encoded]

    def _with_context(self, enc: Encoded, limit: int | None) -> Encoded:
        """An empty prompt gets BOS as its context (or, without BOS, the first token)."""
        if enc.n_prompt == 0:
            bos = self.tokenizer.bos_token_id
            if bos is not None:
                ids = (bos, *enc.ids)
                if limit is not None and len(ids) > limit:
                    ids = ids[:1] + ids[2:]  # keep BOS, drop the oldest continuation token
                enc = Encoded(ids, 1, enc.offsets)
            elif len(enc.ids) > 1:
                enc = Encoded(enc.ids, 1, enc.offsets[1:] if enc.offsets else None)
            else:
                raise ValueError(
                    "nothing to score: the prompt is empty, the tokenizer has no BOS token and "
                    "the continuation is a single token"
                )
        return enc

    @torch.no_grad()
    def score(
        self,
        prompts: Sequence[str],
        continuations: Sequence[str],
        *,
        batch_size: int | None = None,
        distributions: bool = False,
        progress: bool = False,
        pack: bool | None = None,
    ) -> list[ContinuationScores]:
        """Per-token log-probs of each continuation given its prompt, in input order.

        pack: score the continuations of one prompt in one sequence, the prompt encoded
        once (:mod:`unlearnkit.models.packing`; same log-probs up to rounding). ``None``
        (default): when the model supports it, which is checked once against unpacked
        scoring. ``batch_size`` counts continuations either way.
        """
        if len(prompts) != len(continuations):
            raise ValueError(
                f"{len(prompts)} prompts but {len(continuations)} continuations; "
                "give one continuation per prompt"
            )
        encoded = self.encode_many(prompts, continuations, with_offsets=True)
        out: list[ContinuationScores | None] = [None] * len(encoded)
        size = batch_size or self.batch_size
        with eval_mode(self.model):
            units = pack_units(encoded, max(self.pack_tokens, 1))
            packed = len(units) < len(encoded) and (
                self._packing_works(units, encoded) if pack is None else pack
            )
            if not packed:
                units = single_units(encoded)
            self._score_units(
                encoded, units, unit_batches(units, size), out, distributions, progress, packed
            )
        return out  # type: ignore[return-value]

    def _packing_works(self, units: list[Unit], encoded: list[Encoded]) -> bool:
        """Whether packed scoring gives this model's unpacked log-probs (checked once, on
        the first unit that shares a prompt)."""
        if self._packs is None:
            attn = getattr(self.model.config, "_attn_implementation", None)
            if attn not in ("sdpa", "eager") or not _forward_takes(self.model, "position_ids"):
                self._packs = False
                return False
            unit = next(u for u in units if len(u.segments) > 1)
            mine = [encoded[k] for k, _, _ in unit.segments]
            a: list[Any] = [None] * len(encoded)
            b: list[Any] = [None] * len(encoded)
            self._score_units(encoded, [unit], [[0]], a, False, False, True)
            singles = single_units(mine)
            self._score_units(mine, singles, [list(range(len(singles)))], b, False, False, False)
            packed = [a[k].logprobs for k, _, _ in unit.segments]
            plain = [b[i].logprobs for i in range(len(mine))]
            self._packs = all(
                torch.allclose(x, y, atol=1e-4, rtol=1e-4)
                for x, y in zip(packed, plain, strict=True)
            )
            if not self._packs:
                warnings.warn(
                    f"{type(self.model).__name__} does not score packed sequences like single "
                    "ones (custom attention masks unsupported?); scoring one pair per "
                    "sequence instead",
                    stacklevel=3,
                )
        return self._packs

    def _score_units(
        self, encoded, units, batches, out, distributions: bool, progress: bool, packed: bool
    ) -> None:
        """Score ``units`` batch by batch into ``out`` (by pair index).

        The next-token distribution is never held whole: log-probs, argmax and Min-K%++'s
        moments are streamed over chunks of the scored positions
        (:func:`~unlearnkit.models.token_scores.stream_token_scores`, ``score_chunk_bytes``
        of float32 logits per chunk). Where the model's logits are just its head applied to
        its body's output (:func:`~unlearnkit.models.token_scores.split_head`), the head
        runs on one chunk of positions at a time too; otherwise the model's own forward runs
        on groups of units whose logits fit ``FORWARD_LOGITS_BYTES``. ``distributions``
        keeps each pair's full (T, V) log-distribution, on the CPU (only when asked).
        """
        from unlearnkit.models.token_scores import (
            CHUNK_BYTES,
            FORWARD_LOGITS_BYTES,
            logit_groups,
            rows_per_chunk,
            split_head,
        )

        keep = accepts_logits_to_keep(self.model)
        parts = split_head(self.model)
        vocab = self._vocab_size(parts)
        chunk_rows = rows_per_chunk(vocab, getattr(self, "score_chunk_bytes", CHUNK_BYTES))
        itemsize = next(self.model.parameters()).element_size()  # of the forward's logits
        for idx in tqdm(batches, desc="score", disable=not progress, leave=False):
            if parts is not None:
                groups = [list(idx)]
            else:  # the model's forward returns (B, L', V): cut the batch to bound it
                groups = [
                    [idx[g] for g in group]
                    for group in logit_groups(
                        [len(units[i]) for i in idx],
                        [units[i].n_prompt for i in idx],
                        vocab,
                        itemsize,
                        trims=keep,
                        budget_bytes=FORWARD_LOGITS_BYTES,
                    )
                ]
            for group in groups:
                self._score_group(
                    encoded,
                    [units[i] for i in group],
                    out,
                    distributions,
                    packed,
                    parts,
                    keep,
                    chunk_rows,
                )

    def _vocab_size(self, parts) -> int:
        """Width of the model's logits (the head's output size where it is known)."""
        if parts is not None:
            return int(parts[1].out_features)
        get_head = getattr(self.model, "get_output_embeddings", None)
        weight = getattr(get_head() if callable(get_head) else None, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 2:
            return int(weight.shape[0])
        return int(self.model.config.vocab_size)

    def _score_group(
        self,
        encoded,
        batch,
        out,
        distributions: bool,
        packed: bool,
        parts,
        keep: bool,
        chunk_rows: int,
    ) -> None:
        """One forward pass over ``batch`` (units) and the streamed scores of its pairs."""
        from unlearnkit.models.token_scores import stream_token_scores

        attn = getattr(self.model.config, "_attn_implementation", None)
        mask_dtype = torch.bool if attn != "eager" else self.model.dtype
        if packed:
            ids, mask, positions = packed_inputs(batch, self.pad_id, mask_dtype)
            kwargs = {"attention_mask": mask, "position_ids": positions}
        else:
            lengths = torch.tensor([len(u) for u in batch])
            ids = torch.full((len(batch), int(lengths.max())), self.pad_id, dtype=torch.long)
            for row, u in enumerate(batch):
                ids[row, : len(u)] = torch.tensor(u.ids)
            # the mask comes from lengths, never from pad ids (pad may equal a real eos)
            mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
            kwargs = {"attention_mask": mask}
        rows: list[int] = []
        preds: list[int] = []
        spots: list[int] = []
        owners: list[tuple[int, int]] = []
        for row, u in enumerate(batch):
            for i, (k, start, n) in enumerate(u.segments):
                rows.extend([row] * n)
                preds.extend(u.predictors(i)[:n])
                spots.extend(range(start, start + n))
                owners.append((k, n))
        device = self.device
        ids = ids.to(device)
        inputs = {k: v.to(device) for k, v in kwargs.items()}
        r = torch.tensor(rows, dtype=torch.long, device=device)
        at = torch.tensor(preds, dtype=torch.long, device=device)
        targets = ids[r, torch.tensor(spots, dtype=torch.long, device=device)]  # (N,)
        if parts is not None:
            body, head = parts
            hidden = body(input_ids=ids, use_cache=False, **inputs).last_hidden_state
            # (N, H): only the positions that predict a label (a dispatched model's body
            # may end on another device than its first parameter's)
            picked = hidden[r.to(hidden.device), at.to(hidden.device)]
            del hidden

            def logits_of(start: int, end: int) -> torch.Tensor:
                return head(picked[start:end])
        else:
            # logits at position t predict token t + 1; no prompt token but the last one
            # predicts a scored token, so the output layer starts there
            first = min(u.n_prompt for u in batch) - 1 if keep else 0
            if keep:
                inputs["logits_to_keep"] = torch.arange(first, ids.shape[1] - 1, device=device)
            logits = self.model(input_ids=ids, **inputs).logits  # (B, L', V) from `first`
            at = at - first

            r, at = r.to(logits.device), at.to(logits.device)

            def logits_of(start: int, end: int) -> torch.Tensor:
                return logits[r[start:end], at[start:end]]

        scores = stream_token_scores(
            logits_of,
            len(rows),
            targets,
            chunk_rows=chunk_rows,
            keep_distributions=distributions,
        )
        sizes = [n for _, n in owners]
        split = zip(
            targets.cpu().split(sizes),
            scores.logprobs.cpu().split(sizes),
            scores.argmax.cpu().split(sizes),
            scores.mu.cpu().split(sizes),
            scores.sigma2.cpu().split(sizes),
            scores.dist.split(sizes) if scores.dist is not None else [None] * len(owners),
            strict=True,
        )
        for (k, _), (tok, lp, am, m, s2, dist) in zip(owners, split, strict=True):
            out[k] = ContinuationScores(
                token_ids=tok,
                logprobs=lp,
                argmax_ids=am,
                offsets=encoded[k].offsets,
                dist=dist,
                moments=(m, s2),
            )

    # -- generation ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        stop: Sequence[str] | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> list[str]:
        """Generate a continuation for each prompt (greedy unless ``do_sample``).

        Generation ends at eos or as soon as a stop string appears; the returned text is cut
        before the first stop string. ``stop=None`` uses the prompt format's stop strings;
        ``stop=()`` disables them. Sampling is seeded (``seed``) without touching the
        caller's RNG state.
        """
        stops = tuple(self.prompt_format.stop if stop is None else stop)
        room = self.max_length - max_new_tokens if self.max_length else None
        if room is not None and room < 1:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} leaves no room for a prompt within the "
                f"model's max_length={self.max_length}"
            )
        encoded = self.encode_many(prompts, [""] * len(prompts), max_length=room)
        lengths = [len(e.ids) for e in encoded]
        out: list[str] = [""] * len(prompts)
        batches = length_sorted_batches(lengths, batch_size or self.batch_size)
        config = self.generation_config(
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
        )
        devices = [self.device] if self.device.type == "cuda" else []
        rng = torch.random.fork_rng(devices=devices) if do_sample else contextlib.nullcontext()
        with rng, eval_mode(self.model):
            if do_sample:
                torch.manual_seed(seed)
            for idx in tqdm(batches, desc="generate", disable=not progress, leave=False):
                width = max(lengths[i] for i in idx)
                ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):  # left padding, mask from lengths
                    ids[row, width - lengths[i] :] = torch.tensor(encoded[i].ids)
                    mask[row, width - lengths[i] :] = 1
                criteria = (
                    _StoppingCriteriaList([_StopOnStrings(self.tokenizer, stops, width)])
                    if stops
                    else None
                )
                with _bare_generation_config(self.model):
                    gen = self.model.generate(
                        input_ids=ids.to(self.device),
                        attention_mask=mask.to(self.device),
                        generation_config=config,
                        stopping_criteria=criteria,
                    )
                for row, i in enumerate(idx):
                    out[i] = self._decode_generated(gen[row, width:], stops, config.eos_token_id)
        return out

    def eos_token_ids(self) -> list[int]:
        """Every id that ends generation: the tokenizer's eos and the checkpoint's
        ``generation_config.eos_token_id`` (e.g. ``<|eot_id|>`` of chat models)."""
        ids: list[int] = []
        gc = getattr(self.model, "generation_config", None)
        for tid in (self.tokenizer.eos_token_id, getattr(gc, "eos_token_id", None)):
            for t in tid if isinstance(tid, (list, tuple)) else [tid]:
                if t is not None and int(t) not in ids:
                    ids.append(int(t))
        return ids

    def generation_config(self, **settings: Any) -> GenerationConfig:
        """An explicit generation config: nothing (penalties, forced tokens, ...) is inherited
        from the checkpoint except its end-of-sequence ids."""
        do_sample = settings.pop("do_sample", False)
        sampling = {}
        if do_sample:
            sampling = {
                "temperature": settings.pop("temperature", 1.0),
                "top_p": settings.pop("top_p", 1.0),
                "top_k": settings.pop("top_k", None) or 0,
            }
        else:
            for key in ("temperature", "top_p", "top_k"):
                settings.pop(key, None)
        return GenerationConfig(
            do_sample=do_sample,
            num_beams=1,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_token_ids() or None,
            use_cache=True,
            **sampling,
            **settings,
        )

    def _decode_generated(self, new_ids: torch.Tensor, stops: Sequence[str], eos) -> str:
        """Text of the generated ids up to eos and the first stop string (stop strings may be
        special tokens such as ``<|im_end|>``: they are matched before specials are dropped)."""
        ids = new_ids.tolist()
        ends = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        for j, t in enumerate(ids):
            if t in ends:
                ids = ids[:j]
                break
        text = cut_at_stop(self.tokenizer.decode(ids, skip_special_tokens=False), stops)
        for special in self.tokenizer.all_special_tokens:
            text = text.replace(special, "")
        return text

    # -- representations -----------------------------------------------------------------------
    @torch.no_grad()
    def hidden_states(
        self,
        texts: Sequence[str],
        *,
        layer: int,
        pool: Literal["last", "mean", "none"] = "last",
        batch_size: int | None = None,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Hidden states at ``layer`` (0 = embeddings, i = after block i, -1 = last).

        ``pool="last"``: the last real token of each text -> (N, H); ``"mean"``: mean over
        real tokens -> (N, H); ``"none"``: one (T_i, H) tensor per text.
        """
        n_layers = self.model.config.num_hidden_layers
        if not -(n_layers + 1) <= layer <= n_layers:
            raise ValueError(f"layer must be in [-{n_layers + 1}, {n_layers}], got {layer}")
        if pool not in ("last", "mean", "none"):
            raise ValueError(f"pool must be 'last', 'mean' or 'none', got {pool!r}")
        encoded = [self.encode(t, "") for t in texts]
        rows: list[torch.Tensor | None] = [None] * len(texts)
        batches = length_sorted_batches(
            [len(e.ids) for e in encoded], batch_size or self.batch_size
        )
        with eval_mode(self.model):
            for idx in batches:
                batch = collate([encoded[i] for i in idx], self.pad_id).to(self.device)
                hs = self.model(
                    input_ids=batch.input_ids,
                    attention_mask=batch.attention_mask,
                    output_hidden_states=True,
                ).hidden_states[layer]  # (B, L, H)
                for row, i in enumerate(idx):
                    h = hs[row, : int(batch.lengths[row])].float().cpu()  # (T_i, H)
                    rows[i] = h[-1] if pool == "last" else h.mean(0) if pool == "mean" else h
        if pool == "none":
            return rows  # type: ignore[return-value]
        return torch.stack(rows)  # type: ignore[arg-type]
