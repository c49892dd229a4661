"""Scoring without the whole (positions × vocabulary) distribution: the streamed log-probs,
argmax and Min-K%++ moments equal a direct full-softmax computation, per chunk size and per
architecture (head split off or the model's own forward), and the chunks stay bounded."""

from __future__ import annotations

import math

import pytest
import torch

from tests.architectures import tiny_causal_lm, token_ids_of
from tests.conftest import counting_examples
from unlearnkit.models.adapters import CausalLMAdapter
from unlearnkit.models.token_scores import (
    logit_groups,
    rows_per_chunk,
    split_head,
    stream_token_scores,
)
from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer


def direct(logits: torch.Tensor, targets: torch.Tensor):
    """The whole-block computation: log-softmax over (N, V), then the moments."""
    logp = torch.log_softmax(logits.double(), -1)
    p = logp.exp()
    plogp = torch.where(p > 0, p * logp, torch.zeros_like(p))
    mu = plogp.sum(-1)
    second = torch.where(p > 0, p * logp.square(), torch.zeros_like(p)).sum(-1)
    return logp.gather(-1, targets[:, None]).squeeze(-1), logp.argmax(-1), mu, second - mu**2, logp


def test_moments_by_hand():
    # p = (1/4, 3/4): mu = ¼ln¼ + ¾ln¾, sigma2 = ¼ln²¼ + ¾ln²¾ − mu²; p = (1, 0): both 0
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, -math.inf], [5.0, 5.0]])
    s = stream_token_scores(lambda a, b: logits[a:b], 3, torch.tensor([1, 0, 0]), chunk_rows=2)
    mu = 0.25 * math.log(0.25) + 0.75 * math.log(0.75)
    sigma2 = 0.25 * math.log(0.25) ** 2 + 0.75 * math.log(0.75) ** 2 - mu**2
    assert s.logprobs.tolist() == pytest.approx([math.log(0.75), 0.0, math.log(0.5)], abs=1e-6)
    assert s.argmax.tolist()[:2] == [1, 0]
    assert s.mu.tolist() == pytest.approx([mu, 0.0, math.log(0.5)], abs=1e-6)
    assert s.sigma2.tolist() == pytest.approx([sigma2, 0.0, 0.0], abs=1e-6)
    assert s.dist is None


@pytest.mark.parametrize("chunk_rows", [1, 7, 37, 1000])
def test_streamed_equals_full_softmax(chunk_rows):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(37, 1000, generator=g) * 4
    logits[3, :500] = -math.inf  # 0·log 0 terms
    logits[5] = -1e30  # a flat row far below zero
    targets = torch.randint(0, 1000, (37,), generator=g)
    targets[3] = 700
    lp, am, mu, s2, logp = direct(logits, targets)
    s = stream_token_scores(
        lambda a, b: logits[a:b], 37, targets, chunk_rows=chunk_rows, keep_distributions=True
    )
    assert torch.allclose(s.logprobs.double(), lp, atol=1e-5, rtol=1e-6)
    assert torch.equal(s.argmax, am)
    assert torch.allclose(s.mu.double(), mu, atol=1e-5, rtol=1e-6)
    assert torch.allclose(s.sigma2.double(), s2, atol=1e-4, rtol=1e-5)
    assert torch.isfinite(s.mu).all() and torch.isfinite(s.sigma2).all()
    finite = torch.isfinite(logp)
    assert torch.equal(torch.isfinite(s.dist), finite)
    assert torch.allclose(s.dist.double()[finite], logp[finite], atol=1e-5)


def test_chunk_rows_and_groups():
    assert rows_per_chunk(1000, budget_bytes=40_000) == 10
    assert rows_per_chunk(10**6, budget_bytes=10) == 1  # at least one row
    # units of lengths 10, 9, 4 with prompts 3, 5, 2 and V = 10 float32 logits:
    # {0,1}: width 10, kept 10 − 3 = 7 → 2·7·10·4 = 560 bytes; {0,1,2}: 3·8·10·4 = 960
    assert logit_groups([10, 9, 4], [3, 5, 2], 10, 4, trims=True, budget_bytes=600) == [
        [0, 1],
        [2],
    ]
    assert logit_groups([10, 9, 4], [3, 5, 2], 10, 4, trims=True, budget_bytes=1000) == [[0, 1, 2]]
    # untrimmed: every position of the widest unit; a unit over budget still gets a group
    assert logit_groups([10, 9, 4], [3, 5, 2], 10, 4, trims=False, budget_bytes=100) == [
        [0],
        [1],
        [2],
    ]


# -- through the adapter, on tiny random models of several architectures ----------------------


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(
        [e.prompt + e.completion for e in counting_examples()], TokenizerConfig(vocab_size=300)
    )


def tiny(arch: str, tokenizer, vocab: int | None = None):
    model = tiny_causal_lm(arch, vocab or len(tokenizer), token_ids=token_ids_of(tokenizer))
    with torch.no_grad():  # larger logits than the init's: a peaked, varied distribution
        model.get_output_embeddings().weight.mul_(20)
    return model


def pairs():
    ex = counting_examples()
    out = [(e.prompt, e.completion) for e in ex]
    # several continuations of one prompt: packed scoring shares it
    out += [(ex[0].prompt, " After one comes three."), (ex[0].prompt, " Two.")]
    return out


def reference_scores(model, adapter, prompts, continuations):
    """Each pair alone, the model's full logits, log-softmax over the whole (T, V)."""
    out = []
    for enc in adapter.encode_many(prompts, continuations):
        ids = torch.tensor([enc.ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double()  # (L, V)
        n = len(enc.ids) - enc.n_prompt
        rows = logits[enc.n_prompt - 1 : len(enc.ids) - 1]
        out.append((*direct(rows, ids[0, enc.n_prompt :]), n))
    return out


@pytest.mark.parametrize(
    ("arch", "splits"),
    [
        ("llama", True),
        ("gpt2", True),
        ("mistral", True),
        ("qwen2", True),
        ("phi", True),
        ("gemma2", False),
    ],
)
@pytest.mark.parametrize("pack", [False, True])
def test_adapter_scores_equal_a_direct_full_softmax(arch, splits, pack, tokenizer):
    model = tiny(arch, tokenizer)
    assert (split_head(model) is not None) == splits
    adapter = CausalLMAdapter(model, tokenizer, batch_size=4)
    adapter.score_chunk_bytes = 4 * len(tokenizer) * 3  # three positions per chunk
    prompts, continuations = zip(*pairs(), strict=True)
    got = adapter.score(prompts, continuations, distributions=True, pack=pack)
    want = reference_scores(model, adapter, prompts, continuations)
    for s, (lp, am, mu, s2, logp, n) in zip(got, want, strict=True):
        assert s.n_tokens == n
        assert torch.allclose(s.logprobs.double(), lp, atol=1e-5, rtol=1e-6)
        mu_got, s2_got = s.moments
        assert torch.allclose(mu_got.double(), mu, atol=1e-5, rtol=1e-6)
        assert torch.allclose(s2_got.double(), s2, atol=1e-4, rtol=1e-5)
        # argmax: equal except where two logits tie to rounding
        top2 = logp.topk(2, -1).values
        clear = (top2[:, 0] - top2[:, 1]) > 1e-4
        assert torch.equal(s.argmax_ids[clear], am[clear])
        assert s.dist.shape == logp.shape
        assert torch.allclose(s.dist.double(), logp, atol=1e-5, rtol=1e-6)
    # without distributions: the same numbers, no (T, V) kept
    plain = adapter.score(prompts, continuations, pack=pack)
    for a, b in zip(plain, got, strict=True):
        assert a.dist is None
        assert torch.allclose(a.logprobs, b.logprobs, atol=1e-6)


def test_chunk_size_does_not_change_the_scores(tokenizer):
    model = tiny("qwen2", tokenizer)
    prompts, continuations = zip(*pairs(), strict=True)
    runs = []
    for budget in (4 * len(tokenizer), 4 * len(tokenizer) * 5, 2**30):
        adapter = CausalLMAdapter(model, tokenizer)
        adapter.score_chunk_bytes = budget
        runs.append(adapter.score(prompts, continuations, pack=False))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            assert torch.allclose(a.logprobs, b.logprobs, atol=1e-6)
            assert torch.allclose(a.moments[0], b.moments[0], atol=1e-6)
            assert torch.allclose(a.moments[1], b.moments[1], atol=1e-5)


def test_head_runs_on_bounded_chunks_only(tokenizer):
    """The head never sees more rows than one chunk; the model's own forward (which would
    return (B, L', V)) is not called."""
    vocab = 2000
    model = tiny("llama", tokenizer, vocab=vocab)
    adapter = CausalLMAdapter(model, tokenizer, batch_size=64)
    adapter.score_chunk_bytes = 4 * vocab * 5
    seen: list[tuple[int, ...]] = []
    model.get_output_embeddings().register_forward_hook(
        lambda mod, args, out: seen.append(tuple(out.shape))
    )
    prompts, continuations = zip(*pairs(), strict=True)
    scores = adapter.score(prompts, continuations, pack=False)
    assert seen and all(len(s) == 2 and s[0] <= 5 and s[1] == vocab for s in seen)
    assert sum(s[0] for s in seen) == sum(x.n_tokens for x in scores)


def test_without_a_split_head_forward_logits_are_bounded(tokenizer, monkeypatch):
    """A model whose head cannot be split off (a forward hook on it here) is run on groups
    of units whose logits fit the budget, with the same scores."""
    import unlearnkit.models.token_scores as ts

    model = tiny("llama", tokenizer)
    prompts, continuations = zip(*pairs(), strict=True)
    free = CausalLMAdapter(model, tokenizer, batch_size=64).score(
        prompts, continuations, pack=False
    )
    shapes: list[tuple[int, ...]] = []
    model.register_forward_hook(lambda mod, args, out: shapes.append(tuple(out.logits.shape)))
    assert split_head(model) is None
    budget = 4 * len(tokenizer) * 40  # 40 float32 rows of logits per forward
    monkeypatch.setattr(ts, "FORWARD_LOGITS_BYTES", budget)
    bound = CausalLMAdapter(model, tokenizer, batch_size=64).score(
        prompts, continuations, pack=False
    )
    assert len(shapes) > 1
    assert all(b * t <= 40 or b == 1 for b, t, _ in shapes)
    for a, b in zip(free, bound, strict=True):
        assert torch.allclose(a.logprobs, b.logprobs, atol=1e-5)
        assert torch.allclose(a.moments[0], b.moments[0], atol=1e-5)


def test_split_head_refuses_what_it_cannot_rely_on(tokenizer):
    from peft import LoraConfig, get_peft_model

    llama = tiny("llama", tokenizer)
    body, head = split_head(llama)
    assert body is llama.model and head is llama.lm_head
    assert split_head(tiny("gemma2", tokenizer)) is None  # soft-capped logits
    wrapped = get_peft_model(tiny("llama", tokenizer), LoraConfig(target_modules=["q_proj"]))
    assert split_head(wrapped) is None
    assert split_head(torch.nn.Linear(2, 2)) is None
