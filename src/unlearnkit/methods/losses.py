"""Unlearning losses as pure functions: tensors in, tensors out (no model calls, no state).

Conventions shared by every function here:

- Hugging Face causal-LM layout: ``logits[:, t]`` predicts ``labels[:, t + 1]``; the
  functions do the shift themselves, so pass the model's logits and the batch's labels as
  they are.
- Label ``-100`` (``IGNORE_INDEX``) marks positions that are not scored (prompt, padding):
  only answer tokens count, and a masked position changes neither a loss nor its gradient.
- Shapes: B batch, T sequence, V vocabulary, H hidden size. Log-probabilities are natural
  logs, computed in float32 whatever the dtype of the logits (as transformers does for its
  own loss).
- Reference quantities (``ref_logits``, ``ref_logp``, ...) come from the frozen model before
  unlearning; compute them under ``torch.no_grad()``: these functions do not detach them.
- Losses are to be *minimised*.

| function | paper / origin |
|---|---|
| answer_logprobs, sequence_logprob, nll_loss | building blocks (token / sequence log-likelihood) |
| ascent_loss | gradient ascent on the forget set (Jang et al., arXiv:2210.01504) |
| kl_to_reference | KL retain regulariser of TOFU's "KL" baseline (arXiv:2401.06121) |
| npo_loss | NPO, Zhang et al. (arXiv:2404.05868) |
| simnpo_loss | SimNPO, Fan et al. (arXiv:2410.07163) |
| dpo_loss | DPO, Rafailov et al. (arXiv:2305.18290); IdkDPO in TOFU (arXiv:2401.06121) |
| rmu_forget_loss, rmu_retain_loss, rmu_control_vector | RMU, WMDP, Li et al. (arXiv:2403.03218) |
| weighted_ascent_loss | WGA (arXiv:2502.19301); SatImp (arXiv:2505.11953) |
| undial_loss | UNDIAL, Dong et al. (arXiv:2402.10052) |
| ce_u_loss | CE-U, Yang (arXiv:2503.01224) |
| logit_flatness_loss | PDU's forget term ("Constrained Entropic Unlearning", primal-dual) |
| inverted_hinge_loss | LoKU, Cha et al. (arXiv:2408.15562) |
| answer_mean_prob, flat_loss | FLAT, Wang et al. (arXiv:2410.11143) |
| uniform_ce_loss | ULD's "forget the retain set" objective (arXiv:2406.08607) |
| whp_generic_logits | Who's Harry Potter, Eldan & Russinovich (arXiv:2310.02238) |
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100

__all__ = [
    "IGNORE_INDEX",
    "answer_logprobs",
    "answer_mean_prob",
    "ascent_loss",
    "ce_u_loss",
    "dpo_loss",
    "flat_loss",
    "inverted_hinge_loss",
    "kl_to_reference",
    "logit_flatness_loss",
    "nll_loss",
    "npo_loss",
    "rmu_control_vector",
    "rmu_forget_loss",
    "rmu_retain_loss",
    "sequence_logprob",
    "simnpo_loss",
    "undial_loss",
    "uniform_ce_loss",
    "weighted_ascent_loss",
]


# --------------------------------------------------------------------------- validation


def _check_lm(logits: torch.Tensor, labels: torch.Tensor, name: str = "logits") -> None:
    if logits.dim() != 3:
        raise ValueError(f"{name} must be (B, T, V); got shape {tuple(logits.shape)}")
    if labels.dim() != 2 or tuple(labels.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"labels must be (B, T) = {tuple(logits.shape[:2])} to match {name}; "
            f"got shape {tuple(labels.shape)}"
        )


def _check_beta(beta: float) -> None:
    if not (isinstance(beta, int | float) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0; got {beta!r}")


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"expected tensors of one shape; got {shapes}")


# --------------------------------------------------------------------- log-likelihoods


def answer_logprobs(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probability of each label token, after the causal shift.

    ``logp[b, t] = log softmax(logits[b, t])[labels[b, t + 1]]`` for every position whose
    label is not -100, and exactly 0 elsewhere (also 0 gradient there).

    Args:
        logits: (B, T, V) next-token logits.
        labels: (B, T) token ids, -100 where not scored.

    Returns:
        ``(logp, mask)``: logp (B, T-1) float32, and mask (B, T-1) bool, True at scored
        positions (``labels[:, 1:] != -100``).
    """
    _check_lm(logits, labels)
    b, t, v = logits.shape
    target = labels[:, 1:]  # (B, T-1)
    mask = target != IGNORE_INDEX
    # cross_entropy gives -log p(label), exactly 0 (and no gradient) at ignore_index; it is
    # also what transformers' causal-LM loss calls, so the numbers agree with it bit for bit.
    nll = F.cross_entropy(
        logits[:, :-1].reshape(b * (t - 1), v).float(),  # (B*(T-1), V)
        target.reshape(-1).long(),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return -nll.view(b, t - 1), mask


def sequence_logprob(
    logits: torch.Tensor, labels: torch.Tensor, *, average: bool = False
) -> torch.Tensor:
    """log π(y|x) per sequence: ``Σ_t log p(y_t | x, y_<t)`` over the answer tokens.

    With ``average=True`` the sum is divided by the number of scored tokens |y| (the
    length-normalised log-likelihood of SimNPO and of the TOFU probability metric).

    Args:
        logits: (B, T, V); labels: (B, T) with -100 at unscored positions.

    Returns:
        (B,) float32. A row with no scored token sums to 0 (no NaN); averaging such a row is
        undefined, so ``average=True`` raises ``ValueError`` naming the rows.
    """
    logp, mask = answer_logprobs(logits, labels)  # (B, T-1) each
    total = logp.sum(-1)  # (B,)
    if not average:
        return total
    counts = mask.sum(-1)  # (B,)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"sequence_logprob(average=True): row(s) {empty} have no scored token "
            "(every label after the shift is -100); there is nothing to average"
        )
    return total / counts


def nll_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token-level mean negative log-likelihood over the whole batch.

    ``nll = -(Σ_{b,t scored} log p(y_bt)) / (number of scored tokens in the batch)``: every
    token weighs the same, so long answers weigh more than short ones. This is exactly
    ``model(input_ids, labels=labels).loss`` in transformers (no ``num_items_in_batch``).
    A batch without any scored token gives 0 (transformers gives NaN there).

    Args:
        logits: (B, T, V); labels: (B, T) with -100 at unscored positions.

    Returns:
        Scalar float32 tensor.
    """
    logp, mask = answer_logprobs(logits, labels)  # (B, T-1)
    return -logp.sum() / mask.sum().clamp_min(1)


def ascent_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient ascent on the forget set, as a loss to minimise: ``-nll_loss(logits, labels)``.

    Unbounded below: minimising it drives the forget answers' likelihood to 0 with no
    brake, which is why GA collapses models and NPO (``npo_loss``) saturates instead.
    Same shapes and masking as ``nll_loss``.
    """
    return -nll_loss(logits, labels)


def kl_to_reference(
    logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Forward KL from the reference to the model, mean over scored positions.

    ``KL(p_ref ‖ p_θ) = Σ_v p_ref(v) · (log p_ref(v) - log p_θ(v))`` over the full vocabulary,
    at each position t whose next label ``labels[:, t + 1]`` is scored, averaged over those
    positions. Direction: the reference is the first argument (the expectation is taken
    under p_ref), as in TOFU's ``F.kl_div(current_logp, ref_logp, log_target=True)``.
    TOFU averages over every position of the batch (prompt and padding included); we only
    count scored positions, like every other loss here. 0 when no position is scored.

    Args:
        logits: (B, T, V) model being unlearned; ref_logits: (B, T, V) frozen reference;
        labels: (B, T), -100 at positions that do not count.

    Returns:
        Scalar float32 tensor, ≥ 0, and 0 iff the distributions agree at every scored
        position.
    """
    _check_lm(logits, labels)
    _check_lm(ref_logits, labels, name="ref_logits")
    if ref_logits.shape != logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} must have the shape of logits "
            f"{tuple(logits.shape)}"
        )
    mask = labels[:, 1:] != IGNORE_INDEX  # (B, T-1)
    # Select the scored positions first: saves the (B, T-1, V) softmax over prompt/padding.
    logp = torch.log_softmax(logits[:, :-1][mask].float(), dim=-1)  # (N, V)
    ref_logp = torch.log_softmax(ref_logits[:, :-1][mask].float(), dim=-1)  # (N, V)
    ref_p = ref_logp.exp()
    # 0 · log 0 = 0: a token the reference rules out (p_ref = 0, e.g. a -inf logit) adds nothing.
    per_token = torch.where(ref_p > 0, ref_p * (ref_logp - logp), 0.0)  # (N, V)
    return per_token.sum() / max(int(mask.sum()), 1)


# ------------------------------------------------------------ preference-style objectives


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """Negative Preference Optimization (Zhang et al. 2024, arXiv:2404.05868).

    ``L = -(2/β) · mean_b log σ(-β · (log π_θ(y_b|x_b) - log π_ref(y_b|x_b)))``

    with log π the log-probability of the whole forget answer, **summed** over its tokens
    (``sequence_logprob(..., average=False)``), as in the authors' code, where
    ``get_batch_loss`` sums the token cross-entropies and the loss is
    ``-logsigmoid(β · (nll_θ - nll_ref)).mean() · 2/β``. Equals (2/β)·ln 2 when the model equals
    the reference; dL/d log π_θ = (2/B)·σ(β(log π_θ - log π_ref)) > 0, so descending lowers the
    forget likelihood, and the push fades as it drops below the reference (unlike
    ``ascent_loss``); as β → 0 it tends to (2 ln 2)/β + mean_b(log π_θ - log π_ref), whose
    gradient is that of gradient ascent on the summed log-likelihood.

    Args:
        logp: (B,) summed answer log-probs under the model; ref_logp: (B,) under the frozen
        reference; beta: inverse temperature > 0 (paper default 0.1).

    Returns:
        Scalar tensor.
    """
    _check_beta(beta)
    _check_same_shape(logp=logp, ref_logp=ref_logp)
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def simnpo_loss(avg_logp: torch.Tensor, beta: float, gamma: float = 0.0) -> torch.Tensor:
    """SimNPO (Fan et al. 2024, arXiv:2410.07163): NPO without a reference model.

    ``L = -(2/β) · mean_b log σ(-β · avg_logπ_θ(y_b|x_b) - γ)``

    with ``avg_logπ = log π_θ(y|x) / |y|`` the **length-normalised** answer log-prob
    (``sequence_logprob(..., average=True)``) and γ ≥ 0 a reward margin, as in the paper's
    equation. Note on γ: the authors' code (OPTML-Group/Unlearn-Simple, and OpenUnlearning's
    SimNPO) computes ``-logsigmoid(β · (avg_nll - δ)) · 2/β``, i.e. the margin sits *inside* the
    β product: their δ equals γ/β here (``gamma = beta * delta`` reproduces it). Both papers'
    reported runs use γ = δ = 0, where the two forms agree.

    Args:
        avg_logp: (B,) length-normalised answer log-probs; beta: > 0 (paper default 4.5);
        gamma: margin (default 0).

    Returns:
        Scalar tensor; (2/β)·ln 2 when ``-β·avg_logp = γ``.
    """
    _check_beta(beta)
    if not math.isfinite(gamma):
        raise ValueError(f"gamma must be finite; got {gamma!r}")
    return -(2.0 / beta) * F.logsigmoid(-beta * avg_logp - gamma).mean()


def dpo_loss(
    logp_chosen: torch.Tensor,
    logp_rejected: torch.Tensor,
    ref_logp_chosen: torch.Tensor,
    ref_logp_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Direct Preference Optimization (Rafailov et al. 2023, arXiv:2305.18290).

    ``L = -mean_b log σ(β · ((log π_θ(y_c) - log π_ref(y_c)) - (log π_θ(y_r) - log π_ref(y_r))))``

    on (B,) **summed** answer log-probs. For IdkDPO (TOFU, arXiv:2401.06121) the chosen answer
    y_c is a refusal ("I don't know" style) and the rejected y_r is the forget answer. TOFU's
    code is exactly this form with β = 0.1 (no 2/β factor; the NPO repository's ``dpo`` variant
    multiplies it by 2/β). Equals ln 2 when both log-ratios are equal (e.g. at the start, when
    the model equals the reference).

    Args:
        logp_chosen, logp_rejected: (B,) under the model; ref_logp_chosen,
        ref_logp_rejected: (B,) under the frozen reference; beta: > 0.

    Returns:
        Scalar tensor.
    """
    _check_beta(beta)
    _check_same_shape(
        logp_chosen=logp_chosen,
        logp_rejected=logp_rejected,
        ref_logp_chosen=ref_logp_chosen,
        ref_logp_rejected=ref_logp_rejected,
    )
    margin = (logp_chosen - ref_logp_chosen) - (logp_rejected - ref_logp_rejected)  # (B,)
    return -F.logsigmoid(beta * margin).mean()


# ------------------------------------------------------------------------------- RMU


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (a - b)² over the counted positions and the hidden dimension.

    a, b: (B, T, H) (b may broadcast); mask: (B, T). Equals ``F.mse_loss(a[mask], b[mask])``,
    and 0 (not NaN) when nothing is counted.
    """
    if a.dim() != 3:
        raise ValueError(f"hidden must be (B, T, H); got shape {tuple(a.shape)}")
    if tuple(mask.shape) != tuple(a.shape[:2]):
        raise ValueError(
            f"mask must be (B, T) = {tuple(a.shape[:2])}; got shape {tuple(mask.shape)}"
        )
    keep = mask.bool()
    diff = a[keep].float() - b.expand_as(a)[keep].float()  # (N, H)
    return diff.pow(2).sum() / max(diff.numel(), 1)


def rmu_forget_loss(
    hidden: torch.Tensor, control: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """RMU forget term (WMDP, Li et al. 2024, arXiv:2403.03218).

    ``L_f = mean over counted (b, t) and over h of (h_ℓ(x_f)[b, t, h] - c·u[h])²``

    i.e. ``‖h_ℓ - c·u‖²`` divided by H and averaged over counted positions: the WMDP code
    (``rmu/unlearn.py``) calls ``F.mse_loss(activations, control_vec)``, the mean over every
    element. It counts every position of the padded batch (it passes no mask, so padding
    tokens are steered too); here only the positions in ``mask`` count (e.g. answer tokens, or
    ``attention_mask`` for WMDP-style documents without their padding).

    Args:
        hidden: (B, T, H) layer-ℓ activations of the model on forget inputs;
        control: (H,) the scaled control vector c·u (``rmu_control_vector``);
        mask: (B, T) bool/0-1, positions that count.

    Returns:
        Scalar float32 tensor; 0 when nothing is counted.
    """
    if control.dim() != 1 or control.shape[0] != hidden.shape[-1]:
        raise ValueError(
            f"control must be (H,) = ({hidden.shape[-1]},); got shape {tuple(control.shape)}"
        )
    return _masked_mse(hidden, control, mask)


def rmu_retain_loss(
    hidden: torch.Tensor, ref_hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """RMU retain term (WMDP, arXiv:2403.03218).

    ``L_r = mean over counted (b, t) and over h of (h_ℓ(x_r)[b, t, h] - h_ℓ^ref(x_r)[b, t, h])²``

    the same reduction as ``rmu_forget_loss`` (WMDP: ``F.mse_loss(updated, frozen)``, then
    multiplied by α outside the loss; α is the caller's business).

    Args:
        hidden: (B, T, H) model activations on retain inputs; ref_hidden: (B, T, H) the frozen
        reference's (computed under no_grad); mask: (B, T) positions that count.

    Returns:
        Scalar float32 tensor; 0 when the activations agree or nothing is counted.
    """
    if ref_hidden.shape != hidden.shape:
        raise ValueError(
            f"ref_hidden {tuple(ref_hidden.shape)} must have the shape of hidden "
            f"{tuple(hidden.shape)}"
        )
    return _masked_mse(hidden, ref_hidden, mask)


def rmu_control_vector(hidden_size: int, coeff: float, generator: torch.Generator) -> torch.Tensor:
    """The RMU target c·u: a fixed random unit vector u scaled by the steering coefficient c.

    ``u = r / ‖r‖₂`` with ``r_h ~ Uniform[0, 1)`` i.i.d., as in the WMDP code
    (``torch.rand(1, 1, H)`` normalised, times ``steering_coeff``): every entry is ≥ 0, so u
    is not uniform on the sphere, it points into the positive orthant. Drawn from
    ``generator`` only (reproducible, no global RNG), in float32 on the generator's device;
    cast it to the activations' dtype/device. WMDP draws it once per forget corpus.

    Args:
        hidden_size: H ≥ 1; coeff: c > 0 (tuned per model; the WMDP script's default is 20);
        generator: the torch.Generator to draw from.

    Returns:
        (H,) tensor with ‖·‖₂ = coeff.
    """
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"hidden_size must be an int ≥ 1; got {hidden_size!r}")
    if not (isinstance(coeff, int | float) and math.isfinite(coeff) and coeff > 0):
        raise ValueError(f"coeff must be a finite number > 0; got {coeff!r}")
    r = torch.rand(hidden_size, generator=generator, device=generator.device)  # (H,)
    return coeff * r / r.norm()


# ------------------------------------------------------ token-level forget objectives


def _scored(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, V) float32 logits at the scored positions (after the causal shift) and their (N,)
    label ids: ``logits[b, t]`` with ``labels[b, t + 1] != -100``."""
    _check_lm(logits, labels)
    mask = labels[:, 1:] != IGNORE_INDEX  # (B, T-1)
    return logits[:, :-1][mask].float(), labels[:, 1:][mask].long()


def weighted_ascent_loss(
    logits: torch.Tensor, labels: torch.Tensor, beta: float = 1.0, gamma: float = 0.0
) -> torch.Tensor:
    """Token-weighted gradient ascent: WGA (arXiv:2502.19301) and SatImp (arXiv:2505.11953).

    ``L = -mean_{scored tokens} w_t · CE_t``, ``CE_t = -log p_t``, ``w_t = p_t^β · (1 - p_t)^γ``

    with p_t the model's probability of the answer token, and w_t computed without gradient
    (a weight, not part of the objective). WGA is γ = 0: tokens the model already finds
    unlikely weigh little, so the ascent fades on what is forgotten instead of running away
    like ``ascent_loss`` (β = 0, γ = 0). SatImp multiplies by the "importance" (1 - p)^γ,
    which also damps tokens that are near-certain (β = β₁, γ = β₂ in the paper). As in
    OpenUnlearning's ``compute_wga_loss`` / ``compute_satimp_loss``: a plain mean over the
    batch's scored tokens, not normalised by the weights.

    Args:
        logits: (B, T, V); labels: (B, T), -100 where not scored; beta, gamma: ≥ 0.

    Returns:
        Scalar float32 tensor (≤ 0); 0 when nothing is scored.
    """
    for name, v in (("beta", beta), ("gamma", gamma)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {v!r}")
    logp, mask = answer_logprobs(logits, labels)  # (B, T-1)
    p = logp.detach().exp()
    weight = p.pow(beta) * (1.0 - p).pow(gamma)
    return (weight * logp)[mask].sum() / mask.sum().clamp_min(1)


def undial_loss(
    logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor, beta: float
) -> torch.Tensor:
    """UNDIAL, self-distillation with adjusted logits (Dong et al., arXiv:2402.10052).

    ``L = mean_{scored t} CE(softmax(ref_logits_t - β·onehot(y_t)), softmax(logits_t))``

    The student is distilled toward the frozen teacher (the model before unlearning) whose
    logit of the answer token is lowered by β: the answer token loses probability mass and
    every other token keeps its relative share, so the output distribution changes only
    where it must. OpenUnlearning's ``compute_undial_loss`` averages over every position of
    the batch (prompt and padding included); here only scored positions count.

    Args:
        logits: (B, T, V) model; ref_logits: (B, T, V) frozen teacher (no grad);
        labels: (B, T); beta: > 0 (the paper's default 10).

    Returns:
        Scalar float32 tensor; 0 when nothing is scored.
    """
    _check_beta(beta)
    if ref_logits.shape != logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} must have the shape of logits "
            f"{tuple(logits.shape)}"
        )
    student, target = _scored(logits, labels)  # (N, V), (N,)
    if student.shape[0] == 0:
        return logits.sum() * 0.0
    teacher, _ = _scored(ref_logits, labels)
    adjusted = teacher - beta * F.one_hot(target, teacher.shape[-1]).float()
    return F.cross_entropy(student, adjusted.softmax(-1))


def ce_u_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy unlearning, CE-U (Yang, arXiv:2503.01224).

    ``L = mean_{scored t} CE(q_t, softmax(logits_t))``, ``q_t = softmax(stopgrad(logits_t)``
    with the answer token's logit set to -inf``)``

    The target is the model's own current distribution with the answer token removed and
    the rest renormalised (no gradient through the target). Minimising it lowers the answer
    token's probability with a gradient that vanishes as that probability goes to 0 (the
    gradient on the logits is ``softmax(logits) - target``), unlike gradient ascent. The
    paper also leaves out the first answer token(s); mask them in ``labels`` (the ``ce_u``
    method does, with ``ignore_first``).

    Args:
        logits: (B, T, V); labels: (B, T), -100 where not scored.

    Returns:
        Scalar float32 tensor; 0 when nothing is scored.
    """
    student, target = _scored(logits, labels)
    if student.shape[0] == 0:
        return logits.sum() * 0.0
    masked = student.detach().clone()
    masked.scatter_(-1, target.unsqueeze(-1), float("-inf"))
    return F.cross_entropy(student, masked.softmax(-1))


def logit_flatness_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The forget term of PDU ("Constrained Entropic Unlearning: A Primal-Dual Framework for
    Large Language Models", as in OpenUnlearning's ``PDU``).

    ``L = mean_{scored t} (max_v logit_t[v] - mean_v logit_t[v])²``

    It drives the logits at the answer positions toward a flat (uninformative) row, which
    is bounded below by 0 (unlike gradient ascent). OpenUnlearning's PDU averages over every
    position of the batch; here only scored positions count.

    Args:
        logits: (B, T, V); labels: (B, T), -100 where not scored.

    Returns:
        Scalar float32 tensor, ≥ 0; 0 when nothing is scored.
    """
    rows, _ = _scored(logits, labels)
    if rows.shape[0] == 0:
        return logits.sum() * 0.0
    return (rows.max(-1).values - rows.mean(-1)).pow(2).mean()


def inverted_hinge_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Inverted hinge loss of LoKU (Cha et al., arXiv:2408.15562).

    ``L = mean_{scored t} max(0, 1 + p_t(y_t) - max_{v ≠ y_t} p_t(v))``

    It lowers the answer token's probability only until the best other token overtakes it
    by a margin of 1 in probability, and raises that competitor: forgetting moves mass to
    the next most likely token instead of spreading it over the vocabulary (gradient ascent).

    Args:
        logits: (B, T, V); labels: (B, T), -100 where not scored.

    Returns:
        Scalar float32 tensor in [0, 2]; 0 when nothing is scored.
    """
    rows, target = _scored(logits, labels)
    if rows.shape[0] == 0:
        return logits.sum() * 0.0
    p = rows.softmax(-1)
    p_true = p.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    others = p.scatter(-1, target.unsqueeze(-1), float("-inf"))
    return torch.clamp(1.0 + p_true - others.max(-1).values, min=0.0).mean()


def answer_mean_prob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B,) mean probability of each answer's tokens: ``mean_t p(y_t | x, y_<t)`` over the
    scored tokens of each row (FLAT's per-answer score). Raises ``ValueError`` for a row
    without a scored token."""
    logp, mask = answer_logprobs(logits, labels)
    counts = mask.sum(-1)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"answer_mean_prob: row(s) {empty} have no scored token")
    return (logp.exp() * mask).sum(-1) / counts


#: FLAT's f-divergences: (activation g_f, f* ∘ g_f), the variational form of
#: D_f(P‖Q) ≥ E_P[g_f(V)] - E_Q[f*(g_f(V))] (Nowozin et al., f-GAN, arXiv:1606.00709).
#: Only the divergences whose loss raises the template answer's probability and lowers the
#: forget answer's (both terms monotone the right way on probabilities in [0, 1]); the
#: paper's code also lists Reverse-KL, Jeffrey, Squared-Hellinger and Neyman.
FLAT_DIVERGENCES: dict[str, tuple] = {
    "tv": (lambda v: torch.tanh(v) / 2.0, lambda v: torch.tanh(v) / 2.0),
    "kl": (lambda v: v, lambda v: torch.exp(v - 1.0)),
    "js": (
        lambda v: math.log(2.0) - F.softplus(-v),
        lambda v: v + F.softplus(-v) - math.log(2.0),
    ),
    "pearson": (lambda v: v, lambda v: v * v / 4.0 + v),
}


def flat_loss(
    template_prob: torch.Tensor, forget_prob: torch.Tensor, divergence: str = "tv"
) -> torch.Tensor:
    """FLAT: loss adjustment with only forget data (Wang et al., arXiv:2410.11143).

    ``L = -g_f(P_e) + f*(g_f(P_f))``, ``P_e = mean_b answer_mean_prob(template answers)``,
    ``P_f = mean_b answer_mean_prob(forget answers)``

    the negated variational estimate of the f-divergence between the template ("I don't
    know") answers and the forget answers: minimising it raises the template answers' mean
    token probability and lowers the forget answers', with the relative weights the
    divergence implies. No retain data. The default is Total Variation (the paper's):
    ``L = (tanh(P_f) - tanh(P_e)) / 2``. The authors' code averages the probabilities over
    every position of the padded batch (zeros outside the answers); here each answer's mean
    over its own tokens is averaged over the batch.

    Args:
        template_prob, forget_prob: (B,) from :func:`answer_mean_prob`; divergence: one of
        ``tv``, ``kl``, ``js``, ``pearson``.

    Returns:
        Scalar float32 tensor.
    """
    if divergence not in FLAT_DIVERGENCES:
        raise ValueError(
            f"divergence must be one of {sorted(FLAT_DIVERGENCES)}; got {divergence!r}"
        )
    _check_same_shape(template_prob=template_prob, forget_prob=forget_prob)
    activation, conjugate = FLAT_DIVERGENCES[divergence]
    return -activation(template_prob.float().mean()) + conjugate(forget_prob.float().mean())


def uniform_ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy toward the uniform distribution at the answer positions:
    ``mean_{scored t} −(1/V) Σ_v log p_t(v)``, minimal (= log V) when the model predicts
    nothing. ULD's assistant minimises it on the retain set so that it knows nothing there.
    0 when nothing is scored."""
    rows, _ = _scored(logits, labels)
    if rows.shape[0] == 0:
        return logits.sum() * 0.0
    return -rows.log_softmax(-1).mean(-1).mean()


def whp_generic_logits(
    translated: torch.Tensor, baseline: torch.Tensor, reinforced: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Who's Harry Potter's generic predictions: ``v = translated − α·ReLU(reinforced −
    baseline)``.

    ``baseline`` / ``reinforced``: the original model's and the reinforced model's (further
    trained on the forget text) logits at the same positions of the original text; the
    tokens the reinforced model boosts are the ones that carry the forget knowledge, so they
    are pushed down. ``translated``: the original model's logits at the aligned positions of
    the text with its anchored terms replaced by generic ones (pass ``baseline`` again where
    there is no translation). The generic label of a position is ``argmax v``. All (..., V);
    ``alpha`` >= 0.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    _check_same_shape(translated=translated, baseline=baseline, reinforced=reinforced)
    return translated.float() - alpha * torch.relu(reinforced.float() - baseline.float())
