"""Golden tests of the metric and attack *units* (not the pure functions, which have their own
golden tests): a fake context hands each unit hand-built teacher-forced scores and fixed
generations, so every expected value below is computed by hand in the comment next to it.

Probabilities are powers of 1/2, so log-probs are multiples of ln(1/2) and every avg_nll is
ln 2, ln 4, ln 8, ... A scored answer ends with the EOS token open-unlearning appends: the
likelihood metrics read it, the token-level ones (memorisation, Min-K%, Min-K%++) drop the
last scored token.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import torch

import unlearnkit.evaluation  # noqa: F401  (registers every metric and attack)
from unlearnkit.core.errors import DataValidationError
from unlearnkit.core.results import Result
from unlearnkit.data.formatting import PromptFormat
from unlearnkit.evaluation.context import PassCounts
from unlearnkit.evaluation.metrics import METRICS, MetricError, Split
from unlearnkit.evaluation.mia import MIA_ATTACKS
from unlearnkit.models.adapters.causal_lm import ContinuationScores

FMT = PromptFormat()


# ------------------------------------------------------------------------------ the fake
EOS = 99  # the fake tokenizer's special end-of-sequence id


class FakeTokenizer:
    """Token id i decodes to the letter chr(97 + i); EOS is special ("</s>")."""

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return "".join(
            "</s>" if i == EOS else chr(97 + i)
            for i in ids
            if not (skip_special_tokens and i == EOS)
        )


class FakeAdapter:
    prompt_format = FMT
    max_length = None  # MIA text records: no cut to a window
    tokenizer = FakeTokenizer()


class FakeContext:
    """Quacks like EvalContext for the units: scores and generations come from dicts."""

    def __init__(
        self,
        scores: Mapping[tuple[str, str], ContinuationScores] | None = None,
        generations: Mapping[str, str] | None = None,
        fingerprint: str = "fake-model",
        name: str = "model",
    ) -> None:
        self.adapter = FakeAdapter()
        self.fingerprint = fingerprint
        self.name = name
        self.counts = PassCounts()
        self._scores = dict(scores or {})
        self._generations = dict(generations or {})
        self.generate_calls: list[tuple[list[str], dict[str, Any]]] = []
        self.memo_keys: list[Mapping[str, Any]] = []

    def score(self, prompts: Sequence[str], continuations: Sequence[str]):
        # KeyError on an unknown pair: a unit asking for the wrong text fails loudly
        return [self._scores[(p, c)] for p, c in zip(prompts, continuations, strict=True)]

    def generate(self, prompts: Sequence[str], **settings: Any) -> list[str]:
        self.generate_calls.append((list(prompts), settings))
        return [self._generations[p] for p in prompts]

    def memo(self, key, build):
        self.memo_keys.append(key)
        return build()

    def passes_key(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "prompt_format": FMT.to_dict()}


def cs(
    *probs: float,
    correct: Sequence[bool] | None = None,
    z: Sequence[float] | None = None,
    ids: Sequence[int] | None = None,
) -> ContinuationScores:
    """Scores of a continuation whose token t has probability probs[t].

    correct: which argmax predictions equal the label (default all). z: the Min-K%++
    z-score wanted at each token; moments are built as sigma2 = 4 (sigma = 2) and
    mu = log p - 2 z, so (log p - mu) / sigma = z. ids: the token ids (default 0..T-1).
    """
    n = len(probs)
    token_ids = torch.tensor(list(ids)) if ids is not None else torch.arange(n)
    ok = torch.tensor(list(correct) if correct is not None else [True] * n, dtype=torch.bool)
    argmax = torch.where(ok, token_ids, token_ids + 100)
    logprobs = torch.tensor([math.log(p) for p in probs], dtype=torch.float64)
    moments = None
    if z is not None:
        zt = torch.tensor(list(z), dtype=torch.float64)
        moments = (logprobs - 2.0 * zt, torch.full((n,), 4.0, dtype=torch.float64))
    return ContinuationScores(token_ids, logprobs, argmax, moments=moments)


def qa(question: str, answer: str) -> tuple[str, str]:
    """The (prompt, continuation) the units must ask for under the default prompt format."""
    return FMT.prompt(question), FMT.continuation(answer)


def metric(name: str, **overrides: Any):
    return METRICS.get(name)(bootstrap=0, **overrides)


def attack(name: str, **overrides: Any):
    return MIA_ATTACKS.get(name)(bootstrap=0, **overrides)


# ------------------------------------------------------------------------------ probability
PROB_RECORDS = [
    {"question": "q0", "answer": "a0"},
    {"question": "q1", "answer": "a1"},
]
PROB_SCORES = {
    qa("q0", "a0"): cs(0.5, 0.5),  # avg_nll = ln 2 -> p = 1/2
    qa("q1", "a1"): cs(0.5, 0.125),  # avg_nll = (ln 2 + ln 8)/2 = ln 4 -> p = 1/4 (geo. mean)
}


def test_probability_is_the_mean_of_exp_minus_avg_nll() -> None:
    res = metric("probability").compute(FakeContext(PROB_SCORES), Split("retain", PROB_RECORDS))
    assert res.values == pytest.approx((0.5, 0.25))
    assert res.aggregate == pytest.approx(0.375)  # (1/2 + 1/4) / 2
    assert res.higher_is_better is True
    assert res.name == "retain/probability"
    assert res.ids == ("0", "1")
    assert res.ci is None  # bootstrap=0: no interval


def test_probability_reads_the_configured_fields() -> None:
    records = [{"q": "q0", "a": "a0"}]
    res = metric("probability", question_field="q", answer_field="a").compute(
        FakeContext(PROB_SCORES), Split("retain", records)
    )
    assert res.values == pytest.approx((0.5,))


def test_a_unit_asking_for_unknown_pairs_fails_loudly() -> None:
    with pytest.raises(KeyError):
        metric("probability").compute(FakeContext({}), Split("retain", PROB_RECORDS))


# ------------------------------------------------------------------ normalised probability
def test_normalised_probability_against_the_perturbed_answers() -> None:
    records = [
        {"question": "q0", "answer": "t0", "perturbed_answer": ["w0a", "w0b"]},
        {"question": "q1", "answer": "t1", "perturbed_answer": "w1"},  # one string: one option
    ]
    scores = {
        qa("q0", "t0"): cs(0.5),  # p_true = 1/2
        qa("q0", "w0a"): cs(0.25),  # 1/4
        qa("q0", "w0b"): cs(0.5, 0.125),  # geometric mean 1/4
        qa("q1", "t1"): cs(0.25),  # p_true = 1/4
        qa("q1", "w1"): cs(0.5),  # 1/2
    }
    res = metric("normalised_probability").compute(FakeContext(scores), Split("wf", records))
    # item 0: (1/2) / (1/2 + 1/4 + 1/4) = 1/2 ; item 1: (1/4) / (1/4 + 1/2) = 1/3
    assert res.values == pytest.approx((0.5, 1 / 3))
    assert res.aggregate == pytest.approx(5 / 12)  # (1/2 + 1/3) / 2
    assert res.name == "wf/normalised_probability"


# ------------------------------------------------------------------------------ truth ratio
TR_RECORDS = [
    {"question": "q0", "paraphrased_answer": "p0", "perturbed_answer": ["w0a", "w0b"]},
    {"question": "q1", "paraphrased_answer": "p1", "perturbed_answer": ["w1a", "w1b"]},
    {"question": "q2", "paraphrased_answer": "p2", "perturbed_answer": ["w2"]},
]
# R = exp(avg_nll(para) - mean_j avg_nll(wrong_j))
TR_SCORES = {
    # item 0: para p = 1/2 (ln 2); wrong 1/4, 1/4 (ln 4, ln 4) -> R = exp(ln 2 - ln 4) = 1/2
    qa("q0", "p0"): cs(0.5),
    qa("q0", "w0a"): cs(0.25),
    qa("q0", "w0b"): cs(0.25),
    # item 1: para 1/4 (ln 4); wrong 1/2, 1/8 -> mean(ln 2, ln 8) = ln 4 -> R = 1
    qa("q1", "p1"): cs(0.25),
    qa("q1", "w1a"): cs(0.5),
    qa("q1", "w1b"): cs(0.125),
    # item 2: para 1/4 (ln 4); wrong 1/2 (ln 2) -> R = exp(ln 4 - ln 2) = 2
    qa("q2", "p2"): cs(0.25),
    qa("q2", "w2"): cs(0.5),
}
TR_RATIOS = (0.5, 1.0, 2.0)


def test_truth_ratio_forget_aggregation() -> None:
    res = metric("truth_ratio", aggregation="forget").compute(
        FakeContext(TR_SCORES), Split("forget", TR_RECORDS)
    )
    # min(R, 1/R): 1/2, 1, 1/2 -> mean 2/3
    assert res.values == pytest.approx((0.5, 1.0, 0.5))
    assert res.aggregate == pytest.approx(2 / 3)
    assert res.extra["ratios"] == pytest.approx(list(TR_RATIOS))


def test_truth_ratio_prob_mean_aggregation_is_an_option() -> None:
    res = metric("truth_ratio", aggregation="prob_mean").compute(
        FakeContext(TR_SCORES), Split("retain", TR_RECORDS)
    )
    # p_para / (p_para + p_wrong + 1e-10), p_wrong = exp(-mean avg_nll of the wrong ones):
    # item 0: 1/2 / (1/2 + 1/4) = 2/3 ; item 1: 1/4 / (1/4 + 1/4) = 1/2 ;
    # item 2: 1/4 / (1/4 + 1/2) = 1/3 -> mean 1/2
    assert res.values == pytest.approx((2 / 3, 0.5, 1 / 3))
    assert res.aggregate == pytest.approx(0.5)


def test_truth_ratio_retain_aggregation_is_the_default() -> None:
    res = metric("truth_ratio").compute(FakeContext(TR_SCORES), Split("retain", TR_RECORDS))
    # max(0, 1 - R): 1/2, 0, 0 -> mean 1/6 (item 1's R is 1/4 / (1/4 + 1e-10) = 1 - 4e-10, so
    # 1 - R = 4e-10: open-unlearning's guard, kept; item 0 is 0.5 + 1e-10 for the same reason)
    assert res.values == pytest.approx((0.5, 4e-10, 0.0), abs=2e-10)
    assert res.aggregate == pytest.approx(1 / 6)
    assert res.extra["ratios"] == pytest.approx(list(TR_RATIOS))


# ------------------------------------------------------------------------------ forget quality
def test_forget_quality_is_one_against_an_identical_oracle() -> None:
    oracle = FakeContext(TR_SCORES, fingerprint="oracle")
    res = metric("forget_quality").compute(
        FakeContext(TR_SCORES), Split("forget", TR_RECORDS), oracle=oracle
    )
    # same ratios on both sides: KS statistic 0, p-value 1
    assert res.aggregate == pytest.approx(1.0)
    assert res.values == pytest.approx(TR_RATIOS)  # per item: the model's raw ratios
    assert res.extra["oracle_ratios"] == pytest.approx(list(TR_RATIOS))
    assert res.extra["oracle_fingerprint"] == "oracle"
    assert res.name == "forget/forget_quality"
    assert len(oracle.memo_keys) == 1  # the oracle's ratios go through its memo


def test_forget_quality_against_a_fully_separated_oracle() -> None:
    # oracle ratios 4, 8, 16: para 1/8, 1/16, 1/32 against wrong answers of p = 1/2
    oracle_scores = dict(TR_SCORES)
    oracle_scores[qa("q0", "p0")] = cs(0.125)  # item 0: exp(ln 8 - mean(ln 2, ln 2)) = 4
    oracle_scores[qa("q0", "w0a")] = cs(0.5)
    oracle_scores[qa("q0", "w0b")] = cs(0.5)
    oracle_scores[qa("q1", "p1")] = cs(1 / 16)  # item 1: exp(ln 16 - mean(ln 2, ln 2)) = 8
    oracle_scores[qa("q1", "w1a")] = cs(0.5)
    oracle_scores[qa("q1", "w1b")] = cs(0.5)
    oracle_scores[qa("q2", "p2")] = cs(1 / 32)  # item 2: exp(ln 32 - ln 2) = 16
    res = metric("forget_quality").compute(
        FakeContext(TR_SCORES), Split("forget", TR_RECORDS), oracle=FakeContext(oracle_scores)
    )
    assert res.extra["oracle_ratios"] == pytest.approx([4.0, 8.0, 16.0])
    # model {1/2, 1, 2} all below oracle {4, 8, 16}: D = 1; exact two-sided p-value for
    # n = m = 3 is P(one sample entirely below the other) = 2 / C(6, 3) = 2/20 = 0.1
    assert res.aggregate == pytest.approx(0.1)


def test_forget_quality_needs_an_oracle() -> None:
    with pytest.raises(MetricError, match="oracle"):
        metric("forget_quality").compute(FakeContext(TR_SCORES), Split("forget", TR_RECORDS))


# ------------------------------------------------------------------------------ memorisation
MEM_RECORDS = [
    {"question": "q0", "answer": "a0"},
    {"question": "q1", "answer": "a1"},
    {"question": "q2", "answer": "a2"},
    {"question": "q3", "answer": "a3"},
    {"question": "q4", "answer": ""},
]
# each answer's last scored token is its EOS (the last flag), whose prediction is not counted
MEM_SCORES = {
    qa("q0", "a0"): cs(*[0.5] * 5, correct=[False, True, True, True, False]),
    qa("q1", "a1"): cs(0.5, 0.5, correct=[True, False]),  # a one-token answer
    qa("q2", "a2"): cs(*[0.5] * 4, correct=[True, True, False, True]),  # last one wrong
    qa("q3", "a3"): cs(*[0.5] * 5, correct=[True, False, True, True, True]),
    qa("q4", ""): cs(0.5, correct=[True]),  # an empty answer: only its EOS is scored
}


def test_exact_memorisation_is_the_share_of_correct_argmax_tokens() -> None:
    res = metric("exact_memorisation").compute(FakeContext(MEM_SCORES), Split("f", MEM_RECORDS))
    # EOS dropped: 3/4, 1/1, 2/3, 3/4, and no token left for q4 (NaN, left out as
    # open-unlearning's None) -> mean (3/4 + 1 + 2/3 + 3/4) / 4 = (19/6) / 4 = 19/24
    assert res.values[:4] == pytest.approx((0.75, 1.0, 2 / 3, 0.75))
    assert math.isnan(res.values[4]) and res.n_missing == 1
    assert res.aggregate == pytest.approx(19 / 24)
    assert res.higher_is_better is True


def test_exact_memorisation_can_read_every_scored_token() -> None:
    res = metric("exact_memorisation", drop_last_token=False).compute(
        FakeContext(MEM_SCORES), Split("f", MEM_RECORDS)
    )
    # EOS counted: 3/5, 1/2, 3/4, 4/5, 1/1
    assert res.values == pytest.approx((0.6, 0.5, 0.75, 0.8, 1.0))


def test_extraction_strength_is_the_correct_suffix_share() -> None:
    res = metric("extraction_strength").compute(FakeContext(MEM_SCORES), Split("f", MEM_RECORDS))
    # EOS dropped: [F,T,T,T]: k = 1 -> 1 - 1/4 = 3/4 ; [T]: k = 0 -> 1 ;
    # [T,T,F]: no suffix matches, open-unlearning's search stops at k = 2 -> 1 - 2/3 = 1/3 ;
    # [T,F,T,T]: k = 2 -> 1 - 2/4 = 1/2 ; q4 has no token left: 0 (open-unlearning's value)
    # mean (3/4 + 1 + 1/3 + 1/2 + 0) / 5 = (31/12) / 5 = 31/60
    assert res.values == pytest.approx((0.75, 1.0, 1 / 3, 0.5, 0.0))
    assert res.aggregate == pytest.approx(31 / 60)


def test_extraction_strength_zero_on_no_match_is_an_option() -> None:
    res = metric("extraction_strength", no_match="zero").compute(
        FakeContext(MEM_SCORES), Split("f", MEM_RECORDS)
    )
    # as above, with [T,T,F] scoring 0: (3/4 + 1 + 0 + 1/2 + 0) / 5 = 9/20
    assert res.values == pytest.approx((0.75, 1.0, 0.0, 0.5, 0.0))
    assert res.aggregate == pytest.approx(9 / 20)


def test_extraction_strength_of_raw_completions_as_muse_verbmem() -> None:
    # MUSE VerbMem passages: the prefix is the prompt text itself and the truth follows after
    # one space (open-unlearning's CompletionDataset, insert_space), no format, no EOS; the
    # last token's prediction is still dropped, as open-unlearning's [:-1] does
    records = [{"prompt": "Once upon", "gt": "a time"}, {"prompt": "It was", "gt": "dark"}]
    scores = {
        ("Once upon", " a time"): cs(*[0.5] * 4, correct=[False, True, True, False]),
        ("It was", " dark"): cs(0.5, 0.5, correct=[True, False]),
    }
    res = metric(
        "extraction_strength", question_field="prompt", answer_field="gt", raw_prompt=True
    ).compute(FakeContext(scores), Split("verbmem_forget", records))
    # [F,T,T]: k = 1 -> 1 - 1/3 = 2/3 ; [T]: k = 0 -> 1
    assert res.values == pytest.approx((2 / 3, 1.0))


# ------------------------------------------------------------------------------ ROUGE-L
ROUGE_RECORDS = [
    {"question": "q0", "answer": "After one comes two"},
    {"question": "q1", "answer": "After one comes two"},
    {"question": "q2", "answer": "After one comes two"},
]
ROUGE_GENERATIONS = {
    FMT.prompt("q0"): " After one comes two\n",  # exact: LCS 4 of 4
    FMT.prompt("q1"): " comes two",  # LCS 2 of 4 reference words, 2 of 2 generated
    FMT.prompt("q2"): "",  # empty generation
}


def test_rouge_l_recall_on_fixed_generations() -> None:
    ctx = FakeContext(generations=ROUGE_GENERATIONS)
    res = metric("rouge_l").compute(ctx, Split("retain", ROUGE_RECORDS))
    # recall = LCS / reference words: 4/4, 2/4, 0 (empty) -> mean 1/2
    assert res.values == pytest.approx((1.0, 0.5, 0.0))
    assert res.aggregate == pytest.approx(0.5)
    # kept stripped, as open-unlearning's eval_text_similarity keeps them
    assert res.extra["generations"] == ["After one comes two", "comes two", ""]
    ((prompts, settings),) = ctx.generate_calls
    assert prompts == [FMT.prompt("q0"), FMT.prompt("q1"), FMT.prompt("q2")]
    # open-unlearning's generation default: up to 200 new tokens, ending at EOS only (TOFU's
    # ROUGE passes no stop strings)
    assert settings == {"max_new_tokens": 200, "stop": ()}


def test_rouge_l_generation_settings_are_options() -> None:
    ctx = FakeContext(generations=ROUGE_GENERATIONS)
    metric("rouge_l", max_new_tokens=64, format_stops=True, stop=["Question:"]).compute(
        ctx, Split("retain", ROUGE_RECORDS)
    )
    ((_, settings),) = ctx.generate_calls
    # the given stop strings first, then the prompt format's ("\n")
    assert settings == {"max_new_tokens": 64, "stop": ("Question:", "\n")}


def test_rouge_l_f1_measure() -> None:
    res = metric("rouge_l", measure="f1").compute(
        FakeContext(generations=ROUGE_GENERATIONS), Split("retain", ROUGE_RECORDS)
    )
    # item 1: P = 2/2, R = 2/4 -> F1 = 2·1·(1/2) / (3/2) = 2/3
    assert res.values == pytest.approx((1.0, 2 / 3, 0.0))


# ------------------------------------------------------------------------------ MUSE
def test_verbmem_continues_the_raw_prefix_and_scores_f1() -> None:
    records = [
        {"prompt": "Once upon a time", "gt": "there was a king"},
        {"prompt": "In a hole", "gt": "there was a king"},
    ]
    ctx = FakeContext(
        generations={"Once upon a time": "there was a queen", "In a hole": "a king was there"}
    )
    res = metric("verbmem").compute(ctx, Split("forget", records))
    # item 0: LCS "there was a" = 3; P = 3/4, R = 3/4 -> F1 = 3/4
    # item 1: LCS of [a king was there] and [there was a king] = "a king" = 2;
    #         P = R = 2/4 -> F1 = 1/2 ; mean 5/8
    assert res.values == pytest.approx((0.75, 0.5))
    assert res.aggregate == pytest.approx(0.625)
    ((prompts, settings),) = ctx.generate_calls
    assert prompts == ["Once upon a time", "In a hole"]  # raw, no prompt format
    assert settings == {"max_new_tokens": 128, "stop": ()}  # MUSE: 128 tokens, no stops
    assert res.config["use_stemmer"] is True  # open-unlearning stems (MUSE's code: no)
    assert res.name == "forget/verbmem"


def test_knowmem_puts_the_in_context_examples_first() -> None:
    shots = [{"question": "What comes after one?", "answer": "After one comes two."}]
    records = [{"question": "Who is m0?", "answer": "a tall gardener"}]
    expected_prompt = (
        "Question: What comes after one?\nAnswer: After one comes two.\n\n"
        "Question: Who is m0?\nAnswer:"
    )
    ctx = FakeContext(generations={expected_prompt: " a tall baker"})
    res = metric("knowmem").compute(ctx, Split("forget_qa", records, context=shots))
    # LCS "a tall" = 2 of 3 both ways: P = R = 2/3 -> F1 = 2/3
    assert res.values == pytest.approx((2 / 3,))
    ((prompts, settings),) = ctx.generate_calls
    assert prompts == [expected_prompt]
    assert prompts[0].startswith(FMT.prompt(shots[0]["question"]))
    # open-unlearning's forget_knowmem_ROUGE.yaml: 32 tokens and its three stop strings
    assert settings == {"max_new_tokens": 32, "stop": ("\n\n", "\nQuestion", "Question:")}


def test_knowmem_in_context_answers_carry_no_eos() -> None:
    """A bound format ends scored answers with the EOS text; the in-context examples of the
    prompt do not (open-unlearning's few-shot examples have none)."""

    class EosFormat:
        eos_text = "</s>"
        stop = ("\n",)

        def prompt(self, question: str) -> str:
            return FMT.prompt(question)

        def continuation(self, answer: str) -> str:
            return FMT.continuation(answer) + "</s>"

    shots = [{"question": "What comes after one?", "answer": "After one comes two."}]
    records = [{"question": "Who is m0?", "answer": "a tall gardener"}]
    expected_prompt = (
        "Question: What comes after one?\nAnswer: After one comes two.\n\n"
        "Question: Who is m0?\nAnswer:"
    )
    ctx = FakeContext(generations={expected_prompt: " a tall gardener"})
    ctx.adapter.prompt_format = EosFormat()
    res = metric("knowmem").compute(ctx, Split("forget_qa", records, context=shots))
    assert res.values == pytest.approx((1.0,))


def test_knowmem_without_context_is_plain_qa() -> None:
    records = [{"question": "Who is m0?", "answer": "a tall gardener"}]
    ctx = FakeContext(generations={FMT.prompt("Who is m0?"): " a tall gardener"})
    res = metric("knowmem").compute(ctx, Split("forget_qa", records))
    assert res.values == pytest.approx((1.0,))


# ------------------------------------------------------------------------------ model utility
def _component(name: str, values: Sequence[float]) -> Result:
    return Result.from_values(name, values, higher_is_better=True)


def test_model_utility_is_the_harmonic_mean_of_the_aggregates() -> None:
    comps = {
        "retain/probability": _component("retain/probability", [0.25, 0.75]),  # mean 1/2
        "retain/rouge_l": _component("retain/rouge_l", [0.25]),  # 1/4
        "retain/truth_ratio": _component("retain/truth_ratio", [1.0, 1.0]),  # 1
    }
    res = METRICS.get("model_utility")(bootstrap=0).combine(comps)
    # 3 / (1/(1/2) + 1/(1/4) + 1/1) = 3 / (2 + 4 + 1) = 3/7
    assert res.aggregate == pytest.approx(3 / 7)
    assert res.values == pytest.approx((0.5, 0.25, 1.0))
    assert res.ids == tuple(comps)
    assert res.name == "utility/model_utility"
    assert res.extra["components"] == list(comps)


def test_model_utility_interval_honours_bootstrap_seed_and_level() -> None:
    comps = {
        "a": _component("a", [0.2, 0.4, 0.6, 0.8]),
        "b": _component("b", [0.5, 0.7]),
    }

    def run(**cfg):
        return METRICS.get("model_utility")(**cfg).combine(comps)

    assert run(bootstrap=0).ci is None
    first, again = run(bootstrap=300, seed=3), run(bootstrap=300, seed=3)
    assert first.ci is not None and first.ci == again.ci  # seeded
    assert first.ci[0] <= first.aggregate <= first.ci[1]
    narrow = run(bootstrap=300, seed=3, ci_level=0.5)
    assert first.ci[0] <= narrow.ci[0] <= narrow.ci[1] <= first.ci[1]
    assert run(bootstrap=300, seed=4).ci != first.ci


def test_model_utility_is_zero_when_one_component_is_zero() -> None:
    comps = {
        "a": _component("a", [0.5]),
        "b": _component("b", [0.0, 0.0]),
        "c": _component("c", [1.0]),
    }
    assert METRICS.get("model_utility")(bootstrap=0).combine(comps).aggregate == 0.0


def test_model_utility_is_not_computed_on_a_split() -> None:
    with pytest.raises(MetricError, match="combine"):
        METRICS.get("model_utility")().compute(FakeContext(), Split("retain", PROB_RECORDS))
    with pytest.raises(MetricError):
        METRICS.get("model_utility")().combine({})


# ------------------------------------------------------------------------------ attacks
MEMBERS = Split(
    "forget",
    [
        {"question": "m0", "answer": "gold"},
        {"question": "m1", "answer": "iron"},
    ],
)
NONMEMBERS = Split(
    "holdout",
    [
        {"question": "n0", "answer": "lead"},
        {"question": "n1", "answer": "zinc"},
    ],
)
# per-token probabilities (the second token is the answer's EOS), avg_nll, nll (ln 2 = 0.693):
#   m0 (1/2, 1/2)   avg ln 2          nll 2 ln 2
#   m1 (1/8, 1/2)   avg 2 ln 2 = ln 4 nll 4 ln 2
#   n0 (1/2, 1/8)   avg ln 4 (tie m1; same two terms, so the floats tie exactly)
#   n1 (1/8, 1/8)   avg ln 8          nll 6 ln 2
# Min-K%++ z-scores: m0 (0, 1), m1 (-1, 2), n0 (-0.5, 0.5), n1 (-2, 0)
# LOSS, ZLib and Reference read both tokens; Min-K% and Min-K%++ only the first.
ATTACK_SCORES = {
    qa("m0", "gold"): cs(0.5, 0.5, z=[0.0, 1.0]),
    qa("m1", "iron"): cs(0.125, 0.5, z=[-1.0, 2.0]),
    qa("n0", "lead"): cs(0.5, 0.125, z=[-0.5, 0.5]),
    qa("n1", "zinc"): cs(0.125, 0.125, z=[-2.0, 0.0]),
}
LN2 = math.log(2)


def _ctx() -> FakeContext:
    return FakeContext(ATTACK_SCORES)


def test_loss_scores_and_auc() -> None:
    a = attack("loss")
    assert a.scores(_ctx(), MEMBERS) == pytest.approx([-LN2, -2 * LN2])
    assert a.scores(_ctx(), NONMEMBERS) == pytest.approx([-2 * LN2, -3 * LN2])
    res = a.evaluate(_ctx(), MEMBERS, NONMEMBERS)
    # pairs (member, non-member): m0>n0 1, m0>n1 1, m1=n0 1/2, m1>n1 1 -> 3.5/4 = 0.875
    assert res.aggregate == 0.875
    assert res.values == pytest.approx((-LN2, -2 * LN2, -2 * LN2, -3 * LN2))
    assert res.name == "forget_vs_holdout/mia_loss"
    assert res.ids == ("member:0", "member:1", "nonmember:0", "nonmember:1")
    assert res.higher_is_better is False
    assert res.extra == {"n_members": 2, "n_nonmembers": 2}
    assert res.ci is None


def test_zlib_scores_and_auc() -> None:
    # every answer's tokens are ids (0, 1), decoded "ab": the same compressed length z for all
    z = len(zlib.compress(b"ab"))
    a = attack("zlib")
    # -avg_nll / z: m0 -ln2/z, m1 -2 ln2/z ; n0 -2 ln2/z, n1 -3 ln2/z
    assert a.scores(_ctx(), MEMBERS) == pytest.approx([-LN2 / z, -2 * LN2 / z])
    assert a.scores(_ctx(), NONMEMBERS) == pytest.approx([-2 * LN2 / z, -3 * LN2 / z])
    # same order as LOSS: 0.875
    assert a.evaluate(_ctx(), MEMBERS, NONMEMBERS).aggregate == 0.875


def test_zlib_compresses_the_scored_tokens_decoded_without_special_tokens() -> None:
    members = Split("forget", [{"question": "m0", "answer": "gold"}])
    nonmembers = Split("holdout", [{"question": "n0", "answer": "lead"}])
    # tokens "b", "c", "d" and the special EOS: the text compressed is "bcd" (9 + 2 bytes
    # of zlib framing: 11 bytes), not "bcd</s>" and not the answer string " gold"
    ctx = FakeContext(
        {
            qa("m0", "gold"): cs(0.5, 0.5, 0.5, 0.5, ids=[1, 2, 3, EOS]),  # avg ln 2
            qa("n0", "lead"): cs(0.25, 0.25, ids=[1, EOS]),  # avg ln 4, text "b"
        }
    )
    z_m, z_n = len(zlib.compress(b"bcd")), len(zlib.compress(b"b"))
    assert (z_m, z_n) == (11, 9)
    a = attack("zlib")
    assert a.scores(ctx, members) == pytest.approx([-LN2 / 11])
    assert a.scores(ctx, nonmembers) == pytest.approx([-2 * LN2 / 9])


def test_min_k_scores_and_auc() -> None:
    a = attack("min_k")  # k = 0.4; the EOS dropped leaves T = 1: max(1, int(0.4)) = 1 token
    # the first token's log-prob: m0 ln(1/2), m1 ln(1/8) ; n0 ln(1/2), n1 ln(1/8)
    assert a.scores(_ctx(), MEMBERS) == pytest.approx([-LN2, -3 * LN2])
    assert a.scores(_ctx(), NONMEMBERS) == pytest.approx([-LN2, -3 * LN2])
    # m0 = n0 (1/2), m0 > n1 (1), m1 < n0 (0), m1 = n1 (1/2) -> 2/4
    assert a.evaluate(_ctx(), MEMBERS, NONMEMBERS).aggregate == 0.5
    # every scored token, k = 1: the mean of both tokens, i.e. -avg_nll: LOSS's order again
    every = attack("min_k", k=1.0, drop_last_token=False)
    assert every.evaluate(_ctx(), MEMBERS, NONMEMBERS).aggregate == 0.875


def test_min_k_pp_scores_and_auc() -> None:
    a = attack("min_k_pp")  # one token left once the EOS is dropped: its z
    # m0 0, m1 -1 ; n0 -0.5, n1 -2
    assert a.scores(_ctx(), MEMBERS) == pytest.approx([0.0, -1.0])
    assert a.scores(_ctx(), NONMEMBERS) == pytest.approx([-0.5, -2.0])
    # m0 > n0, n1 (2); m1 < n0 (0), m1 > n1 (1) -> 3/4
    assert a.evaluate(_ctx(), MEMBERS, NONMEMBERS).aggregate == 0.75
    # every token, k = 0.4 (T = 2: one token, the lowest z): m0 0, m1 -1 ; n0 -0.5, n1 -2
    every = attack("min_k_pp", drop_last_token=False)
    assert every.scores(_ctx(), NONMEMBERS) == pytest.approx([-0.5, -2.0])


@pytest.mark.parametrize("name", ["min_k", "min_k_pp"])
def test_an_item_with_no_token_left_scores_zero_as_the_publisher(name) -> None:
    # an empty answer scores only its EOS; with it dropped nothing is left: score 0
    members = Split("forget", [{"question": "m0", "answer": ""}])
    ctx = FakeContext({qa("m0", ""): cs(0.25, z=[-1.0])})
    assert attack(name).scores(ctx, members) == [0.0]


REFERENCE_SCORES = {
    qa("m0", "gold"): cs(0.5, 0.5),  # ref avg ln 2
    qa("m1", "iron"): cs(0.125, 0.125),  # ref avg ln 8
    qa("n0", "lead"): cs(0.5, 0.5),  # ref avg ln 2
    qa("n1", "zinc"): cs(0.125, 0.125),  # ref avg ln 8
}


def test_reference_scores_and_auc() -> None:
    a = attack("reference")
    ref = FakeContext(REFERENCE_SCORES, fingerprint="reference")
    # -(avg_model - avg_ref): m0 -(ln2 - ln2) = 0, m1 -(ln4 - ln8) = ln 2 ;
    #                         n0 -(ln4 - ln2) = -ln 2, n1 -(ln8 - ln8) = 0
    assert a.scores(_ctx(), MEMBERS, reference=ref) == pytest.approx([0.0, LN2])
    assert a.scores(_ctx(), NONMEMBERS, reference=ref) == pytest.approx([-LN2, 0.0])
    # m0 > n0 1, m0 = n1 1/2, m1 > n0 1, m1 > n1 1 -> 3.5/4
    assert a.evaluate(_ctx(), MEMBERS, NONMEMBERS, reference=ref).aggregate == 0.875


def test_reference_attack_without_a_reference_is_a_metric_error() -> None:
    with pytest.raises(MetricError, match="reference"):
        attack("reference").evaluate(_ctx(), MEMBERS, NONMEMBERS)


def test_reference_attack_never_judges_a_model_against_itself() -> None:
    a = attack("reference")
    same = FakeContext(REFERENCE_SCORES, fingerprint="fake-model", name="reference")
    # every score would be -(x - x) = 0 and the AUC 0.5 by construction
    assert "0.5 by construction" in a.unavailable(_ctx(), reference=same)
    with pytest.raises(MetricError, match=r"0\.5 by construction"):
        a.evaluate(_ctx(), MEMBERS, NONMEMBERS, reference=same)
    with pytest.raises(MetricError, match="reference model itself"):
        a.scores(_ctx(), MEMBERS, reference=same)
    assert attack("loss").unavailable(_ctx(), reference=same) is None


def test_reference_attack_gives_no_oracle_comparison_when_the_oracle_is_the_reference() -> None:
    a = attack("reference")
    oracle = FakeContext(REFERENCE_SCORES, fingerprint="oracle", name="oracle")
    res = a.evaluate(_ctx(), MEMBERS, NONMEMBERS, reference=oracle, oracle=oracle)
    # the model against the reference: 0.875 as above; the oracle against itself would be
    # 0.5 by construction, so there is no oracle AUC and no PrivLeak, and the reason
    assert res.aggregate == 0.875
    assert "auc_oracle" not in res.extra and "privleak" not in res.extra
    assert "oracle under evaluation is the reference" in res.extra["oracle_skipped"]
    assert oracle.memo_keys == []


@pytest.mark.parametrize("name", ["loss", "zlib", "min_k", "min_k_pp"])
def test_members_with_higher_log_probs_give_auc_one(name) -> None:
    scores = {
        qa("m0", "gold"): cs(0.5, 0.5, z=[1.0, 1.0]),
        qa("m1", "iron"): cs(0.5, 0.25, z=[0.5, 1.0]),
        qa("n0", "lead"): cs(0.125, 0.125, z=[-2.0, -1.0]),
        qa("n1", "zinc"): cs(0.25, 0.125, z=[-1.0, 0.0]),
    }
    a = attack(name)
    assert a.evaluate(FakeContext(scores), MEMBERS, NONMEMBERS).aggregate == 1.0
    # the other way round the attacker is always wrong: members are the positive class
    assert a.evaluate(FakeContext(scores), NONMEMBERS, MEMBERS).aggregate == 0.0


def test_privleak_against_a_fake_oracle() -> None:
    oracle_scores = {
        qa("m0", "gold"): cs(0.5, 0.5),  # loss -ln 2
        qa("m1", "iron"): cs(0.125, 0.125),  # -ln 8
        qa("n0", "lead"): cs(0.5, 0.5),  # -ln 2
        qa("n1", "zinc"): cs(0.125, 0.125),  # -ln 8
    }
    oracle = FakeContext(oracle_scores, fingerprint="oracle")
    res = attack("loss").evaluate(_ctx(), MEMBERS, NONMEMBERS, oracle=oracle)
    # oracle AUC: m0=n0 1/2, m0>n1 1, m1<n0 0, m1=n1 1/2 -> 2/4 = 1/2
    assert res.aggregate == 0.875
    assert res.extra["auc_oracle"] == 0.5
    # PrivLeak (MUSE's sign) = (0.5 - 0.875) / (1 - 0.5 + 1e-10) · 100 = -75: still leaks
    assert res.extra["privleak"] == pytest.approx(-75.0, rel=1e-9)
    assert res.extra["oracle_fingerprint"] == "oracle"
    assert "privleak_ci" not in res.extra  # bootstrap=0
    assert len(oracle.memo_keys) == 2  # the oracle's member and non-member scores, memoised


def test_text_records_are_scored_as_whole_texts() -> None:
    members = Split("forget_raw", [{"text": "gold bar"}])
    nonmembers = Split("holdout_raw", [{"text": "zinc bar"}])
    ctx = FakeContext({("", "gold bar"): cs(0.5), ("", "zinc bar"): cs(0.25)})
    res = attack("loss").evaluate(ctx, members, nonmembers)
    assert res.values == pytest.approx((-LN2, -2 * LN2))
    assert res.aggregate == 1.0


# ------------------------------------------------------------------------------ results
def test_result_ids_are_unique_and_carry_person_and_attribute() -> None:
    records = [
        {"question": "q0", "answer": "a0", "person_id": "p1", "attribute": "birthplace"},
        {"question": "q0", "answer": "a0", "person_id": "p1", "attribute": "birthplace"},
        {"question": "q1", "answer": "a1"},
    ]
    res = metric("probability").compute(FakeContext(PROB_SCORES), Split("forget", records))
    assert res.ids == ("0:p1:birthplace", "1:p1:birthplace", "2")
    assert len(set(res.ids)) == 3
    assert res.name == "forget/probability"
    assert res.config["bootstrap"] == 0


def test_bootstrap_interval_brackets_the_aggregate_and_is_seeded() -> None:
    def run():
        return METRICS.get("probability")(bootstrap=200).compute(
            FakeContext(PROB_SCORES), Split("retain", PROB_RECORDS)
        )

    first, second = run(), run()
    # values (1/2, 1/4): a resample's mean is 1/4, 3/8 or 1/2 (1/4 of resamples each at the
    # ends), so the 2.5% and 97.5% percentiles are exactly 1/4 and 1/2
    assert first.ci == (0.25, 0.5)
    assert first.ci[0] <= first.aggregate <= first.ci[1]
    assert second.ci == first.ci


def test_attack_bootstrap_interval_brackets_the_auc_and_is_seeded() -> None:
    def run():
        return MIA_ATTACKS.get("loss")(bootstrap=200).evaluate(
            _ctx(), MEMBERS, NONMEMBERS, oracle=FakeContext(REFERENCE_SCORES)
        )

    first, second = run(), run()
    assert first.ci is not None
    assert first.ci[0] <= first.aggregate <= first.ci[1]
    assert second.ci == first.ci
    low, high = first.extra["privleak_ci"]
    assert low <= first.extra["privleak"] <= high
    assert second.extra["privleak_ci"] == first.extra["privleak_ci"]


# ------------------------------------------------------------------------------ Split.require
def test_split_require_names_the_record_and_the_field() -> None:
    split = Split(
        "forget", [{"question": "q0", "answer": "a0"}, {"question": "q1"}], source="forget.jsonl"
    )
    with pytest.raises(DataValidationError) as info:
        split.require("question", "answer")
    err = info.value
    assert err.record == 1
    assert err.field == "answer"
    assert "record 1" in str(err) and "'answer'" in str(err)
    assert "forget.jsonl" in str(err)


def test_split_require_treats_none_as_missing() -> None:
    split = Split("forget", [{"question": "q0", "answer": None}])
    with pytest.raises(DataValidationError) as info:
        metric("probability").compute(FakeContext(PROB_SCORES), split)
    assert info.value.record == 0 and info.value.field == "answer"


def test_split_require_rejects_an_empty_split() -> None:
    with pytest.raises(MetricError, match="empty"):
        Split("forget", []).require("question")
