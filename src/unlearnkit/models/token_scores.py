"""Per-token scores from next-token logits without holding the full distribution.

Teacher-forced scoring needs, at every scored position t, the log-probability of the label,
the argmax token and Min-K%++'s moments of log p under the model's own distribution:
mu_t = Σ_v p_v log p_v and sigma2_t = Σ_v p_v (log p_v)² − mu_t². Computed on the whole
(positions × vocabulary) block at once, that is several float32 copies of tokens × V per
batch (GBs with a 150k vocabulary). Here the positions are taken a chunk of rows at a time
(:func:`stream_token_scores`), so at most one chunk of the distribution (plus its few
temporaries) exists at any moment; each row is computed exactly as before (a row's
log-softmax does not depend on the other rows).

The logits themselves are (batch, positions, V) when the model's own forward computes them.
For the architectures whose causal-LM forward is just ``lm_head(body(...))``
(:data:`PLAIN_HEAD_MODEL_TYPES`), :func:`split_head` returns the body and the head, and the
head then runs on one chunk of the scored positions at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: Bytes of float32 logits per chunk of positions (the temporaries of one chunk are a few
#: times this); an adapter's ``score_chunk_bytes`` attribute overrides it. Smaller chunks
#: run the head on fewer rows at a time (slower: the head's weights are read once per
#: chunk); on the CPU, larger ones also leave more freed memory with the allocator
#: (benchmarks/scoring_memory.py measures both).
CHUNK_BYTES = 16 * 2**20

#: Bytes of logits a model's own forward may return per call where the head cannot be
#: split off (the batch is cut into groups of units that fit; one long unit may exceed it).
FORWARD_LOGITS_BYTES = 128 * 2**20

#: ``config.model_type`` of the transformers causal LMs whose logits are exactly
#: ``lm_head(base_model(...).last_hidden_state)``: no soft-capping (Gemma 2/3), logit scale
#: (Cohere, Granite) or vocabulary trimming after the head. Checked against each modelling
#: file of the transformers release this was written with.
PLAIN_HEAD_MODEL_TYPES = frozenset(
    {
        "falcon",
        "gemma",
        "gpt2",
        "gpt_neox",
        "gptj",
        "llama",
        "mistral",
        "mixtral",
        "olmo",
        "olmo2",
        "opt",
        "phi",
        "phi3",
        "qwen2",
        "qwen2_moe",
        "qwen3",
        "qwen3_moe",
        "stablelm",
        "starcoder2",
    }
)


def split_head(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """``(body, head)`` of a stock transformers causal LM whose logits are
    ``head(body(...).last_hidden_state)``, or None when that cannot be relied on: another
    architecture, remote code, a wrapper (PEFT, DDP, an inference-time combination of
    models), or forward hooks / a replaced ``forward`` on the model itself (a head hook,
    e.g. a logit penalty, is kept: the head module is called as usual)."""
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel):
        return None
    model_type = getattr(model.config, "model_type", None)
    if model_type not in PLAIN_HEAD_MODEL_TYPES:
        return None
    if type(model).__module__ != f"transformers.models.{model_type}.modeling_{model_type}":
        return None  # remote code or a subclass defined elsewhere
    if model._forward_hooks or model._forward_pre_hooks:
        return None
    if "forward" in vars(model) and not hasattr(model, "_hf_hook"):  # accelerate's is fine
        return None
    body, head = model.base_model, model.get_output_embeddings()
    if body is model or not isinstance(head, nn.Linear):
        return None
    return body, head


def rows_per_chunk(vocab: int, budget_bytes: int = CHUNK_BYTES) -> int:
    """Positions per chunk so that one float32 (rows, vocab) block fits ``budget_bytes``."""
    return max(1, budget_bytes // (4 * max(vocab, 1)))


@dataclass(frozen=True)
class TokenScores:
    """Scores of N positions. logprobs (N,): log p(label). argmax (N,). mu, sigma2 (N,):
    mean and variance of log p_v under p. dist (N, V): the log-distributions, when asked."""

    logprobs: torch.Tensor
    argmax: torch.Tensor
    mu: torch.Tensor
    sigma2: torch.Tensor
    dist: torch.Tensor | None = None


def stream_token_scores(
    logits_of: Callable[[int, int], torch.Tensor],
    n: int,
    targets: torch.Tensor,
    *,
    chunk_rows: int,
    keep_distributions: bool = False,
) -> TokenScores:
    """Scores of ``n`` positions whose logits ``logits_of(start, end)`` gives, (end − start,
    V) for rows ``start:end``, one chunk of ``chunk_rows`` rows at a time, in float32.

    targets (n,): the label at each position. With ``keep_distributions`` the rows' full
    log-distributions are kept (on the CPU): (n, V), what the caller asked for.
    """
    device = targets.device
    logprobs = torch.empty(n, device=device)
    argmax = torch.empty(n, dtype=torch.long, device=device)
    mu = torch.empty(n, device=device)
    second = torch.empty(n, device=device)
    dists: list[torch.Tensor] = []
    for start in range(0, n, chunk_rows):
        end = min(start + chunk_rows, n)
        logp = torch.log_softmax(logits_of(start, end).float(), dim=-1)  # (c, V)
        labels = targets[start:end, None].to(logp.device)  # the head may sit elsewhere
        logprobs[start:end] = logp.gather(-1, labels).squeeze(-1).to(device)
        argmax[start:end] = logp.argmax(-1).to(device)
        # 0·log 0 = 0: below -1e4, p is exactly 0, so clamping there changes no term but
        # keeps -inf (and its square) out of the products
        finite = logp.clamp_min(-1e4)
        if keep_distributions:
            dists.append(logp.cpu())
        weighted = logp.exp() if keep_distributions else logp.exp_()  # p, in place if we can
        del logp
        weighted.mul_(finite)  # p log p
        mu[start:end] = weighted.sum(-1).to(device)
        second[start:end] = weighted.mul_(finite).sum(-1).to(device)  # p (log p)²
        del weighted, finite
    sigma2 = (second - mu.square()).clamp_min(0.0)
    dist = None
    if keep_distributions:
        dist = torch.cat(dists) if dists else torch.empty(0, 0)
    return TokenScores(logprobs, argmax, mu, sigma2, dist)


def logit_groups(
    lengths: Sequence[int],
    prompts: Sequence[int],
    vocab: int,
    itemsize: int,
    *,
    trims: bool,
    budget_bytes: int = FORWARD_LOGITS_BYTES,
) -> list[list[int]]:
    """Consecutive groups of a batch's units (their ``lengths`` and prompt lengths) whose
    forward logits, (group size, positions kept, V) of ``itemsize`` bytes, fit
    ``budget_bytes`` (at least one unit per group). ``trims``: the forward keeps only the
    positions from the shortest prompt's last token (``logits_to_keep``)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i in range(len(lengths)):
        trial = [*current, i]
        width = max(lengths[j] for j in trial)
        kept = width - min(prompts[j] for j in trial) if trims else width
        if current and len(trial) * kept * vocab * itemsize > budget_bytes:
            groups.append(current)
            trial = [i]
        current = trial
    if current:
        groups.append(current)
    return groups


__all__ = [
    "CHUNK_BYTES",
    "FORWARD_LOGITS_BYTES",
    "PLAIN_HEAD_MODEL_TYPES",
    "TokenScores",
    "logit_groups",
    "rows_per_chunk",
    "split_head",
    "stream_token_scores",
]
