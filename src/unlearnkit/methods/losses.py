"""Unlearning losses as pure functions (no model calls, no global state).

Conventions (Hugging Face causal LM): ``logits[:, t]`` predicts ``labels[:, t + 1]``; the
functions shift themselves; label -100 marks positions that are not scored (prompt,
padding). Shapes: B batch, T sequence, V vocabulary, H hidden size.

| function | paper |
|---|---|
| answer_logprobs, sequence_logprob, nll_loss | — (building blocks) |
| ascent_loss | gradient ascent (arXiv:2210.01504) |
| kl_to_reference | TOFU's KL baseline (arXiv:2401.06121) |
| npo_loss | NPO (arXiv:2404.05868) |
| simnpo_loss | SimNPO (arXiv:2410.07163) |
| dpo_loss | DPO (arXiv:2305.18290), IdkDPO in TOFU |
| rmu_forget_loss, rmu_retain_loss, rmu_control_vector | RMU / WMDP (arXiv:2403.03218) |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def answer_logprobs(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log p(label) after the shift, and the mask of scored positions.

    logits (B, T, V), labels (B, T) -> logp (B, T-1) (0 where masked), mask (B, T-1) bool.
    """
    shifted = labels[:, 1:]  # (B, T-1)
    mask = shifted != IGNORE_INDEX
    logp_all = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
    safe = shifted.masked_fill(~mask, 0)
    logp = logp_all.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return logp * mask, mask


def sequence_logprob(
    logits: torch.Tensor, labels: torch.Tensor, *, average: bool = False
) -> torch.Tensor:
    """log π(y|x) per sequence: the sum over answer tokens (B,), or the mean when ``average``
    (SimNPO's length-normalised log-likelihood). An unscored row sums to 0; averaging it is
    an error."""
    logp, mask = answer_logprobs(logits, labels)
    total = logp.sum(-1)  # (B,)
    if not average:
        return total
    counts = mask.sum(-1)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"rows {empty} have no scored (label != -100) token to average over")
    return total / counts


def nll_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over every scored token of the batch (token-level mean,
    what ``model(..., labels=labels).loss`` returns in transformers)."""
    logp, mask = answer_logprobs(logits, labels)
    return -logp.sum() / mask.sum().clamp_min(1)


def ascent_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient ascent as a loss to minimise: ``-nll_loss``."""
    return -nll_loss(logits, labels)


def kl_to_reference(
    logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """KL(p_ref ‖ p_θ) = Σ_v p_ref(v) (log p_ref(v) - log p_θ(v)) at each scored position,
    averaged over scored positions (the positions that predict answer tokens)."""
    mask = labels[:, 1:] != IGNORE_INDEX  # (B, T-1)
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
    ref_logp = torch.log_softmax(ref_logits[:, :-1].float(), dim=-1)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum(-1)  # (B, T-1)
    return (kl * mask).sum() / mask.sum().clamp_min(1)


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO: ``-(2/β) · mean log σ(-β (log π_θ(y|x) - log π_ref(y|x)))`` over the batch, with
    (B,) summed sequence log-probs. Equals (2/β) ln 2 when the model equals the reference;
    bounded below by 0 as the forget answer becomes unlikely (unlike gradient ascent)."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def simnpo_loss(avg_logp: torch.Tensor, beta: float, gamma: float = 0.0) -> torch.Tensor:
    """SimNPO: ``-(2/β) · mean log σ(-β · avg log π_θ(y|x) - γ)`` with (B,) length-normalised
    log-probs: NPO without a reference model, and with a reward margin γ."""
    return -(2.0 / beta) * F.logsigmoid(-beta * avg_logp - gamma).mean()


def dpo_loss(
    logp_chosen: torch.Tensor,
    logp_rejected: torch.Tensor,
    ref_logp_chosen: torch.Tensor,
    ref_logp_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """DPO: ``-mean log σ(β ((log π_c - log π_ref,c) - (log π_r - log π_ref,r)))`` on (B,)
    summed log-probs. For IdkDPO the chosen answer is a refusal, the rejected one the forget
    answer. Equals ln 2 when both margins are equal."""
    margin = (logp_chosen - ref_logp_chosen) - (logp_rejected - ref_logp_rejected)
    return -F.logsigmoid(beta * margin).mean()


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (a - b)² over the counted positions and the hidden dimension."""
    sq = (a.float() - b.float()).pow(2).mean(-1)  # (B, T)
    m = mask.to(sq.dtype)
    return (sq * m).sum() / m.sum().clamp_min(1)


def rmu_forget_loss(
    hidden: torch.Tensor, control: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """RMU forget term: MSE between the layer-ℓ hidden states (B, T, H) of forget inputs and
    the control vector c·u (H,), over the counted positions ``mask`` (B, T) and the hidden
    dimension (the WMDP code uses ``F.mse_loss``, i.e. the mean over elements)."""
    return _masked_mse(hidden, control.expand_as(hidden), mask)


def rmu_retain_loss(
    hidden: torch.Tensor, ref_hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """RMU retain term: MSE between the model's and the frozen reference's layer-ℓ hidden
    states (B, T, H) on retain inputs, over the counted positions and the hidden dimension."""
    return _masked_mse(hidden, ref_hidden, mask)


def rmu_control_vector(hidden_size: int, coeff: float, generator: torch.Generator) -> torch.Tensor:
    """c·u: a random unit vector (entries uniform in [0, 1), normalised, as in the WMDP code)
    scaled by the steering coefficient ``coeff``; drawn from ``generator`` (reproducible)."""
    u = torch.rand(hidden_size, generator=generator)
    return coeff * u / u.norm()
