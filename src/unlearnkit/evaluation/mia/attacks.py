"""The membership-inference attacks: LOSS, ZLib, Min-K%, Min-K%++, Reference, GradNorm.

Each scores an example (higher = more member-like, see :mod:`.base`) from the model's
teacher-forced pass on it, shared with every other metric through the context; GradNorm
alone needs a backward pass per example. The score arithmetic is in
:mod:`unlearnkit.evaluation.functional.mia`; each attack is open-unlearning's
(``src/evals/metrics/mia/`` at d3d7cf9) with the sign flipped. LOSS, ZLib and Reference
read every scored token; Min-K%, Min-K%++ and GradNorm every one but the last
(:mod:`unlearnkit.evaluation.tokens`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import torch

from unlearnkit.core.config import param
from unlearnkit.evaluation.functional import mia as F
from unlearnkit.evaluation.metrics.base import MetricError
from unlearnkit.evaluation.mia.base import MIAAttack, MIAConfig, register_attack
from unlearnkit.evaluation.tokens import without_last_token
from unlearnkit.models.adapters.causal_lm import accepts_logits_to_keep, eval_mode
from unlearnkit.models.encoding import collate


class _TeacherForced(MIAAttack):
    def _scored(self, ctx, split):
        pairs = self.pairs(ctx, split)
        return pairs, ctx.score([p for p, _ in pairs], [c for _, c in pairs])


@register_attack("loss", paper="arXiv:1709.01604")
class Loss(_TeacherForced):
    """LOSS (Yeom et al. 2018): -avg_nll of the example."""

    def scores(self, ctx, split, *, reference=None):
        _, scored = self._scored(ctx, split)
        return [F.loss_score(s.avg_nll) for s in scored]


@register_attack("zlib", paper="arXiv:2012.07805")
class ZLib(_TeacherForced):
    """ZLib (Carlini et al. 2021): -avg_nll / zlib-compressed length of the scored text (the
    scored tokens decoded with special tokens skipped, as open-unlearning's
    ``extract_target_texts_from_processed_data``)."""

    def scores(self, ctx, split, *, reference=None):
        _, scored = self._scored(ctx, split)
        tok = ctx.adapter.tokenizer
        return [
            F.zlib_score(s.avg_nll, tok.decode(s.token_ids.tolist(), skip_special_tokens=True))
            for s in scored
        ]


@dataclass(frozen=True)
class MinKConfig(MIAConfig):
    """k: the share of lowest-scoring tokens averaged (at least one; open-unlearning's
    configs: 0.4). drop_last_token: leave out the last scored token, as open-unlearning
    does (its EOS for QA); False reads every scored token."""

    k: float = param(0.4, gt=0, le=1)
    drop_last_token: bool = True


def _tokens(scored, drop_last: bool):
    return [without_last_token(s) if drop_last else s for s in scored]


@register_attack("min_k", paper="arXiv:2310.16789")
class MinK(_TeacherForced):
    """Min-K% (Shi et al. 2024): mean of the lowest k% token log-probs (an item with no token
    left scores 0, as in open-unlearning)."""

    config_class = MinKConfig

    def scores(self, ctx, split, *, reference=None):
        _, scored = self._scored(ctx, split)
        return [
            F.min_k_score(s.logprobs.tolist(), self.config.k) if s.n_tokens else 0.0
            for s in _tokens(scored, self.config.drop_last_token)
        ]


@register_attack("min_k_pp", paper="arXiv:2404.02936")
class MinKPlusPlus(_TeacherForced):
    """Min-K%++ (Zhang et al. 2025): token log-probs standardised by the mean and spread of
    log p under the model's own next-token distribution (variance floored at 1e-6, as
    open-unlearning); mean of the lowest k% (an item with no token left scores 0)."""

    config_class = MinKConfig

    def scores(self, ctx, split, *, reference=None):
        _, scored = self._scored(ctx, split)
        out = []
        for s in _tokens(scored, self.config.drop_last_token):
            if not s.n_tokens:
                out.append(0.0)
                continue
            mu, sigma2 = s.moments
            out.append(
                F.min_k_pp_score(s.logprobs.tolist(), mu.tolist(), sigma2.tolist(), self.config.k)
            )
        return out


@register_attack("reference", paper="arXiv:2012.07805")
class Reference(_TeacherForced):
    """Reference (Carlini et al. 2021): -(avg_nll_model - avg_nll_reference); a reference
    model that never saw the data calibrates away how easy an example is."""

    uses_reference = True

    def scores(self, ctx, split, *, reference=None):
        if reference is None:
            raise MetricError(
                "the reference attack compares with a reference model; pass reference=... "
                "(for example the retrain oracle)"
            )
        if reference.fingerprint == ctx.fingerprint:
            raise MetricError(self.self_reference(ctx.name))
        pairs, scored = self._scored(ctx, split)
        ref = reference.score([p for p, _ in pairs], [c for _, c in pairs])
        return [F.reference_score(s.avg_nll, r.avg_nll) for s, r in zip(scored, ref, strict=True)]


@dataclass(frozen=True)
class GradNormConfig(MIAConfig):
    """p: the norm of each parameter tensor's gradient (1, 2 or inf; open-unlearning's
    configs: 2). mode: "train" runs the model in training mode as open-unlearning's
    ``GradNormAttack`` does (dropout active, seeded with ``seed`` so the scores repeat; the
    same as "eval" for a model without dropout), "eval" without dropout. drop_last_token:
    leave the last scored token out of the loss, as open-unlearning does."""

    p: float = param(2.0, choices=(1.0, 2.0, float("inf")))
    mode: Literal["train", "eval"] = "train"
    drop_last_token: bool = True


@register_attack("gradnorm", paper="arXiv:2402.17012")
class GradNorm(MIAAttack):
    """GradNorm (studied for LLMs by Duan et al. 2024, MIMIR): -mean_θ ‖∇_θ L‖_p, the mean
    over parameter tensors (tied weights once) of the p-norm of the gradient of the
    example's mean answer-token loss L (every scored token but the last), as MIMIR and
    open-unlearning compute it (members sit nearer a minimum, so their gradients are
    smaller). One forward and backward pass per example; weights are left untouched."""

    config_class = GradNormConfig

    def scores(self, ctx, split, *, reference=None):
        pairs = self.pairs(ctx, split)
        cfg = self.config
        # the kind names the definition: values kept with the passes of an older one (the
        # global norm, every token) are never read back as these
        kind = f"gradnorm/tensor_mean/p={cfg.p}/{cfg.mode}/drop_last={cfg.drop_last_token}"
        if cfg.mode == "train":
            kind += f"/seed={cfg.seed}"
        return ctx.values(
            kind,
            [p for p, _ in pairs],
            [c for _, c in pairs],
            lambda todo: self._compute(ctx, todo),
        )

    def _compute(self, ctx, pairs: list[tuple[str, str]]) -> list[float]:
        cfg = self.config
        adapter = ctx.adapter
        model = adapter.model
        params = list(model.parameters())  # each tensor once: tied weights are one parameter
        flags = [p.requires_grad for p in params]
        keep_logits = accepts_logits_to_keep(model)
        out = []
        devices = [adapter.device] if adapter.device.type == "cuda" else []
        try:
            for p in params:
                p.requires_grad_(True)
            with (
                torch.enable_grad(),
                _train_mode(model) if cfg.mode == "train" else eval_mode(model),
                torch.random.fork_rng(devices=devices),  # dropout draws leave the caller's RNG
                ctx.counting(),
            ):
                for prompt, cont in pairs:
                    # each example's dropout draws from its own seed: its value does not
                    # depend on which examples were computed before it
                    torch.manual_seed(_example_seed(cfg.seed, prompt, cont))
                    enc = adapter.encode(prompt, cont)
                    batch = collate([enc], adapter.pad_id).to(adapter.device)
                    # logits at position t predict token t + 1: the answer's tokens are
                    # predicted from positions n_prompt - 1 .. end - 2
                    first = enc.n_prompt - 1 if keep_logits else 0
                    kwargs = {"logits_to_keep": torch.arange(first, len(enc.ids))}
                    logits = model(
                        input_ids=batch.input_ids,
                        attention_mask=batch.attention_mask,
                        **(kwargs if keep_logits else {}),
                    ).logits  # (1, L - first, V)
                    logp = torch.log_softmax(logits[0, enc.n_prompt - 1 - first : -1].float(), -1)
                    target = batch.input_ids[0, enc.n_prompt :]
                    token_lp = logp.gather(-1, target[:, None]).squeeze(-1)  # (T,)
                    if cfg.drop_last_token:
                        token_lp = token_lp[:-1]  # open-unlearning: "ignore eos prediction"
                    if token_lp.numel() == 0:
                        # nothing left to score (a one-token text): no gradient, no score;
                        # NaN is left out of the AUC (open-unlearning's mean of nothing is
                        # NaN too, which its roc_auc_score then refuses)
                        out.append(math.nan)
                        continue
                    loss = -token_lp.mean()
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                    used = [g for g in grads if g is not None]  # open-unlearning: grad not None
                    out.append(F.gradnorm_score(F.mean_tensor_norm(used, cfg.p)))
                    ctx.counts.grad_calls += 1
        finally:
            for p, f in zip(params, flags, strict=True):
                p.requires_grad_(f)
        return out


def _example_seed(seed: int, prompt: str, continuation: str) -> int:
    """A seed for one example's dropout draws, from the attack's seed and the example."""
    digest = hashlib.sha256(f"{seed}\0{prompt}\0{continuation}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@contextlib.contextmanager
def _train_mode(model: torch.nn.Module):
    """Training mode inside (open-unlearning's GradNorm calls ``model.train()``), the
    caller's mode restored after."""
    was_training = model.training
    model.train()
    try:
        yield model
    finally:
        model.train(was_training)
