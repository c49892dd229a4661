"""The membership-inference attacks: LOSS, ZLib, Min-K%, Min-K%++, Reference, GradNorm.

Each scores an example (higher = more member-like, see :mod:`.base`) from the model's
teacher-forced pass on it, shared with every other metric through the context; GradNorm
alone needs a backward pass per example. The score arithmetic is in
:mod:`unlearnkit.evaluation.functional.mia`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.core.config import param
from unlearnkit.evaluation.functional import mia as F
from unlearnkit.evaluation.metrics.base import MetricError
from unlearnkit.evaluation.mia.base import MIAAttack, MIAConfig, register_attack
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
    """ZLib (Carlini et al. 2021): -nll / zlib-compressed length of the scored text."""

    def scores(self, ctx, split, *, reference=None):
        pairs, scored = self._scored(ctx, split)
        return [F.zlib_score(s.nll, c) for (_, c), s in zip(pairs, scored, strict=True)]


@dataclass(frozen=True)
class MinKConfig(MIAConfig):
    """k: the share of lowest-scoring tokens averaged (at least one token)."""

    k: float = param(0.4, gt=0, le=1)


@register_attack("min_k", paper="arXiv:2310.16789")
class MinK(_TeacherForced):
    """Min-K% (Shi et al. 2024): mean of the lowest k% token log-probs."""

    config_class = MinKConfig

    def scores(self, ctx, split, *, reference=None):
        _, scored = self._scored(ctx, split)
        return [F.min_k_score(s.logprobs.tolist(), self.config.k) for s in scored]


@register_attack("min_k_pp", paper="arXiv:2404.02936")
class MinKPlusPlus(_TeacherForced):
    """Min-K%++ (Zhang et al. 2025): token log-probs standardised by the mean and spread of
    log p under the model's own next-token distribution; mean of the lowest k%."""

    config_class = MinKConfig

    def scores(self, ctx, split, *, reference=None):
        _, scored = self._scored(ctx, split)
        out = []
        for s in scored:
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
        pairs, scored = self._scored(ctx, split)
        ref = reference.score([p for p, _ in pairs], [c for _, c in pairs])
        return [F.reference_score(s.avg_nll, r.avg_nll) for s, r in zip(scored, ref, strict=True)]


@register_attack("gradnorm", paper="arXiv:2402.17012")
class GradNorm(MIAAttack):
    """GradNorm (studied for LLMs by Duan et al. 2024, MIMIR): -‖∇_θ avg_nll‖₂, the global
    L2 norm over all parameters of the gradient of the example's mean answer-token loss
    (members sit nearer a minimum, so their gradients are smaller). One forward and
    backward pass per example; weights are left untouched."""

    def scores(self, ctx, split, *, reference=None):
        pairs = self.pairs(ctx, split)
        return ctx.values(
            "gradnorm",
            [p for p, _ in pairs],
            [c for _, c in pairs],
            lambda todo: self._compute(ctx, todo),
        )

    @staticmethod
    def _compute(ctx, pairs: list[tuple[str, str]]) -> list[float]:
        adapter = ctx.adapter
        model = adapter.model
        params = [p for p in model.parameters()]
        flags = [p.requires_grad for p in params]
        keep_logits = accepts_logits_to_keep(model)
        out = []
        try:
            for p in params:
                p.requires_grad_(True)
            with torch.enable_grad(), eval_mode(model), ctx.counting():
                for prompt, cont in pairs:
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
                    nll = -logp.gather(-1, target[:, None]).mean()
                    grads = torch.autograd.grad(nll, [p for p in params if p.requires_grad])
                    norm = torch.sqrt(sum(g.detach().float().square().sum() for g in grads))
                    out.append(F.gradnorm_score(float(norm)))
                    ctx.counts.grad_calls += 1
        finally:
            for p, f in zip(params, flags, strict=True):
                p.requires_grad_(f)
        return out
