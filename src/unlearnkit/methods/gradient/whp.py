"""Who's Harry Potter (WHP): Eldan & Russinovich 2023, arXiv:2310.02238.

The model is fine-tuned on the forget text toward *generic* labels: what a model that never
read the text would predict there. Two ingredients give them:

1. **Reinforcement bootstrapping**: a copy of the model is trained further on the forget
   text (the *reinforced* model); tokens whose logits it raises above the original's carry
   the text's knowledge, so ``v = v_baseline − α·ReLU(v_reinforced − v_baseline)``.
2. **Anchored terms**: the text's idiosyncratic terms (names, places, objects) are replaced
   by generic ones (a dictionary: the world's book has one, BENCHMARK_WORLD.md §5) and the
   original model's predictions on the translated text, aligned back to the original
   tokens, replace ``v_baseline`` in the first term. At the first token of an anchored term
   the label becomes the generic term's first token; the term's later tokens are not
   trained (the paper's handling of the translation's different length).

The generic label of each position is ``argmax v`` (:func:`~unlearnkit.methods.losses.
whp_generic_logits`); the model is then trained on the original text with cross-entropy to
those labels. Without a dictionary only the reinforcement term acts.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearnkit.core.config import param
from unlearnkit.methods.base import METHODS, Method, UnlearnConfig, UnlearnContext
from unlearnkit.methods.losses import nll_loss, whp_generic_logits
from unlearnkit.models.encoding import IGNORE_INDEX

#: (start, end) in the original text, (start, end) in the translation, is an anchored term
Segment = tuple[int, int, int, int, bool]


def anchored_translation(text: str, terms: dict[str, str]) -> tuple[str, list[Segment]]:
    """``text`` with every anchored term replaced by its generic one, and the segments that
    align the two (terms matched longest first, left to right; a term capitalised at the
    start of a sentence is matched too and replaced by its generic one capitalised)."""
    variants: dict[str, str] = {}
    for term, generic in terms.items():
        if term:
            variants[term] = generic
            variants.setdefault(term[:1].upper() + term[1:], generic[:1].upper() + generic[1:])
    order = sorted(variants, key=len, reverse=True)
    out: list[str] = []
    segments: list[Segment] = []
    i = plain = pos = 0
    while i < len(text):
        match = next((t for t in order if text.startswith(t, i)), None)
        if match is None:
            i += 1
            continue
        if plain < i:
            segments.append((plain, i, pos, pos + i - plain, False))
            out.append(text[plain:i])
            pos += i - plain
        generic = variants[match]
        segments.append((i, i + len(match), pos, pos + len(generic), True))
        out.append(generic)
        pos += len(generic)
        i = plain = i + len(match)
    if plain < len(text):
        segments.append((plain, len(text), pos, pos + len(text) - plain, False))
        out.append(text[plain:])
    return "".join(out), segments


def aligned_start(segments: list[Segment], start: int) -> int | None:
    """Where the token starting at ``start`` of the original starts in the translation:
    the same offset inside an unchanged segment, the generic term's start for a token that
    starts an anchored term, ``None`` for a token inside a term."""
    for o0, o1, t0, _t1, is_term in segments:
        if o0 <= start < o1:
            if not is_term:
                return t0 + start - o0
            return t0 if start == o0 else None
    return None


def token_spans(tokenizer, ids: list[int]) -> tuple[str, list[tuple[int, int]]]:
    """The text of ``ids`` and each token's (start, end) in it, by decoding growing prefixes
    (works for any tokenizer whose decoding of a prefix is a prefix of the decoding)."""
    spans, before = [], ""
    for k in range(len(ids)):
        now = tokenizer.decode(ids[: k + 1])
        spans.append((len(before), len(now)))
        before = now
    return before, spans


def load_anchors(path: str | Path) -> dict[str, str]:
    """An anchored-term dictionary from JSON: ``{"terms": {term: generic}}`` (the world's
    ``book/book.json``) or a flat ``{term: generic}`` mapping."""
    data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    terms = data.get("terms", data) if isinstance(data, dict) else None
    if not isinstance(terms, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in terms.items()
    ):
        raise ValueError(
            f'{path}: expected a JSON object of term -> generic term strings (or one under "terms")'
        )
    return terms


@dataclass(frozen=True)
class WHPConfig(UnlearnConfig):
    """alpha: weight of the reinforcement term (the paper: 5; 2 here, tuned with lr and
    epochs on the held-out book tuning world: benchmarks/tune_corpus.py). reinforce_epochs /
    reinforce_lr: training of the reinforced copy on the forget text. anchors_file: the
    anchored-term dictionary (JSON; see :func:`load_anchors`); none: reinforcement only."""

    lr: float = param(5e-4, gt=0)
    epochs: int = param(5, ge=1)
    alpha: float = param(2.0, ge=0)
    reinforce_epochs: int = param(3, ge=1)
    reinforce_lr: float = param(1e-3, gt=0)
    anchors_file: str | None = None

    def validate(self) -> None:
        super().validate()
        if self.anchors_file is not None and not Path(self.anchors_file).expanduser().is_file():
            self.fail("anchors_file", self.anchors_file, "an existing JSON file")


@METHODS.register(
    "whp",
    paper="arXiv:2310.02238 (Eldan & Russinovich, Who's Harry Potter?)",
    description="WHP: fine-tune on generic labels from a reinforced model and anchored terms.",
)
class WHP(Method):
    """loss = CE(model(text), argmax[v_base(translated) − α ReLU(v_reinforced − v_base)])."""

    config_class = WHPConfig

    def __init__(self, config: WHPConfig | None = None) -> None:
        super().__init__(config)
        path = self.config.anchors_file
        self.terms = load_anchors(path) if path else {}

    def views(self, prompt: str, answer: str, rng: random.Random) -> dict[str, tuple[str, str]]:
        p, _ = anchored_translation(prompt, self.terms)
        a, _ = anchored_translation(answer, self.terms)
        return {"forget": (prompt, answer), "generic": (p, a)}

    def setup(self, ctx: UnlearnContext) -> None:
        cfg = self.config
        reinforced = self._reinforce(ctx)
        labels: dict[int, torch.Tensor] = {}
        stats = {"tokens": 0, "trained": 0, "relabelled": 0, "unaligned_examples": 0}
        with torch.no_grad():
            for views in ctx.data("forget"):
                f, g = views["forget"], views["generic"]
                inputs = ("input_ids", "attention_mask")
                base = ctx.model(**{k: f[k] for k in inputs}).logits
                strong = reinforced(**{k: f[k] for k in inputs}).logits
                translated = ctx.model(**{k: g[k] for k in inputs}).logits
                for b, index in enumerate(f["index"].tolist()):
                    labels[index] = self._labels(ctx, f, g, b, base, strong, translated, stats)
        del reinforced
        ctx.state["whp_labels"] = labels
        ctx.state["details"] = {
            "anchored_terms": len(self.terms),
            "answer_tokens": stats["tokens"],
            "trained_tokens": stats["trained"],
            "relabelled_fraction": stats["relabelled"] / max(stats["trained"], 1),
            "unaligned_examples": stats["unaligned_examples"],
            "alpha": cfg.alpha,
        }

    def _reinforce(self, ctx: UnlearnContext) -> torch.nn.Module:
        """A copy of the model trained further on the forget text (plain NLL)."""
        cfg = self.config
        model = copy.deepcopy(ctx.accelerator.unwrap_model(ctx.model)).train()
        params = [p for p in model.parameters() if p.is_floating_point()]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=cfg.reinforce_lr, weight_decay=0.0)
        for _ in range(cfg.reinforce_epochs):
            for views in ctx.data("forget"):
                f = views["forget"]
                out = model(input_ids=f["input_ids"], attention_mask=f["attention_mask"])
                loss = nll_loss(out.logits, f["labels"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return model.eval().requires_grad_(False)

    def _labels(self, ctx, f, g, b, base, strong, translated, stats) -> torch.Tensor:
        """The generic labels of example ``b`` of the batch, at its answer positions."""
        cfg = self.config
        pos = (f["labels"][b] != IGNORE_INDEX).nonzero().flatten()
        gpos = (g["labels"][b] != IGNORE_INDEX).nonzero().flatten()
        ids = f["labels"][b, pos].tolist()
        out = torch.full((len(pos),), IGNORE_INDEX, dtype=torch.long, device=pos.device)
        stats["tokens"] += len(pos)
        text, spans = token_spans(ctx.tokenizer, ids)
        gtext, gspans = token_spans(ctx.tokenizer, g["labels"][b, gpos].tolist())
        translation, segments = anchored_translation(text, self.terms)
        if translation != gtext:  # the tokenizer does not round-trip: reinforcement only
            stats["unaligned_examples"] += 1
            segments = [(0, len(text), 0, len(text), False)]
            gpos, gspans, translated = pos, spans, base[b : b + 1].expand_as(base)
        gstart = {s: k for k, (s, e) in enumerate(gspans) if e > s}
        for k, (start, end) in enumerate(spans):
            if end <= start or int(pos[k]) == 0:
                continue
            at = aligned_start(segments, start)
            j = gstart.get(at) if at is not None else None
            if j is None or int(gpos[j]) == 0:
                continue
            t = int(pos[k]) - 1  # logits at t predict the token at t + 1
            v = whp_generic_logits(
                translated[b, int(gpos[j]) - 1], base[b, t], strong[b, t], cfg.alpha
            )
            out[k] = int(v.argmax())
            stats["trained"] += 1
            stats["relabelled"] += int(out[k] != ids[k])
        return out

    def loss(self, ctx, forget, retain):
        f = forget["forget"]
        stored = ctx.state["whp_labels"]
        target = torch.full_like(f["labels"], IGNORE_INDEX)
        for b, index in enumerate(f["index"].tolist()):
            pos = (f["labels"][b] != IGNORE_INDEX).nonzero().flatten()
            target[b, pos] = stored[index].to(target.device)
        out = ctx.model(input_ids=f["input_ids"], attention_mask=f["attention_mask"])
        ce = nll_loss(out.logits, target)
        return {"loss": ce, "forget_generic_ce": ce}
