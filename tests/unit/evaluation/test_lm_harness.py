"""lm-evaluation-harness tasks through our adapter (evaluation/lm_harness.py).

The harness's requests are checked against log-probabilities computed here by hand from the
tiny model's logits and against the harness's own Hugging Face model; the fixture tasks
(tests/fixtures/lm_eval: eight MMLU-schema questions as MMLU's lettered prompt, as a cloze,
as a group, and by generation) run end to end and their per-question values are recomputed
independently through the adapter.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance

from unlearnkit.core.errors import ConfigError
from unlearnkit.core.results import mean
from unlearnkit.data.formatting import PromptFormat
from unlearnkit.evaluation import EvalConfig, evaluate
from unlearnkit.evaluation.context import EvalContext
from unlearnkit.evaluation.functional.mcq import mcq_correct
from unlearnkit.evaluation.lm_harness import (
    AdapterLM,
    LMEvalError,
    run_lm_eval_tasks,
)
from unlearnkit.evaluation.suites import run_suite
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TASKS = FIXTURES / "lm_eval"
TOFU = FIXTURES / "tofu-hub-layout"
LETTERS = "ABCD"
DESCRIPTION = "The following are multiple choice questions (with answers) about counting.\n\n"


def _docs() -> list[dict]:
    lines = (TASKS / "counting_test.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _requests(kind: str, args: list[tuple]) -> list[Instance]:
    return [Instance(kind, {}, a, i) for i, a in enumerate(args)]


@pytest.fixture(scope="module")
def adapter(tiny_lm) -> CausalLMAdapter:
    return CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, batch_size=16)


@pytest.fixture(scope="module")
def harness_run(adapter):
    """The letters and cloze tasks (as their group) and the generation task, run once."""
    return run_lm_eval_tasks(
        adapter, ["counting", "counting_generate"], TASKS, bootstrap=200, seed=3
    )


@torch.no_grad()
def _by_hand(model, tok, context: str, continuation: str) -> tuple[float, bool]:
    """Σ log p(continuation token | everything before) from the model's logits: the
    continuation's tokens are those of tok(context + continuation) after tok(context)."""
    n_ctx = len(tok(context)["input_ids"])
    ids = tok(context + continuation)["input_ids"]
    logp = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    total, greedy = 0.0, True
    for i in range(n_ctx, len(ids)):
        total += float(logp[i - 1, ids[i]])
        greedy &= int(logp[i - 1].argmax()) == ids[i]
    return total, greedy


# -- the harness's requests -----------------------------------------------------------------
def test_loglikelihood_is_the_summed_log_probs_of_the_continuation(tiny_lm, adapter):
    pairs = [
        ("Question: What comes after two?\nAnswer:", " After two comes three."),
        ("Question: What comes after five?\nAnswer:", " After five comes nine."),
        ("Count:", " one, two, three"),
    ]
    got = AdapterLM(adapter).loglikelihood(_requests("loglikelihood", pairs))
    scores = adapter.score([c for c, _ in pairs], [x for _, x in pairs])
    for (ctx, cont), (ll, greedy), s in zip(pairs, got, scores, strict=True):
        assert ll == pytest.approx(float(s.logprobs.sum()), abs=1e-6)
        hand_ll, hand_greedy = _by_hand(tiny_lm.model, tiny_lm.tokenizer, ctx, cont)
        assert ll == pytest.approx(hand_ll, abs=1e-4)
        assert greedy == hand_greedy
    # the memorised answer is the greedy one, the wrong one is not (margins of many nats)
    assert got[0][1] is True and got[1][1] is False
    assert got[0][0] > got[1][0] + 5


def test_context_spaces_move_to_the_continuation_and_empty_context_is_bos(tiny_lm, adapter):
    lm = AdapterLM(adapter)
    spaced = lm.loglikelihood(
        _requests("loglikelihood", [("Question: What comes after two?\nAnswer: ", "After")])
    )[0][0]
    hand, _ = _by_hand(
        tiny_lm.model, tiny_lm.tokenizer, "Question: What comes after two?\nAnswer:", " After"
    )
    assert spaced == pytest.approx(hand, abs=1e-4)
    empty = lm.loglikelihood(_requests("loglikelihood", [("", "Count: one")]))[0][0]
    # tok("") is [BOS]: the continuation is predicted from BOS alone
    assert tiny_lm.tokenizer("")["input_ids"] == [tiny_lm.tokenizer.bos_token_id]
    hand_empty, _ = _by_hand(tiny_lm.model, tiny_lm.tokenizer, "", "Count: one")
    assert empty == pytest.approx(hand_empty, abs=1e-4)


def test_matches_the_harness_own_hugging_face_model(tiny_lm, adapter):
    from lm_eval.models.huggingface import HFLM

    pairs = [
        ("Question: What comes after two?\nAnswer:", " After two comes three."),
        ("Question: What comes after two?\nAnswer: ", "After two comes four."),
        ("", "Count: one, two"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = HFLM(pretrained=tiny_lm.model, tokenizer=tiny_lm.tokenizer, batch_size=4)
        theirs = hf.loglikelihood(_requests("loglikelihood", pairs))
    ours = AdapterLM(adapter).loglikelihood(_requests("loglikelihood", pairs))
    for (a, ga), (b, gb) in zip(theirs, ours, strict=True):
        assert b == pytest.approx(a, abs=1e-4)
        assert ga == gb
    # a rolling log-likelihood within one window: log p(text | BOS) (the harness's model
    # given add_bos_token=False, else it also predicts the BOS it writes into the text)
    text = "Count: one, two, three, four. Question: What comes after two?\nAnswer: After two"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = HFLM(
            pretrained=tiny_lm.model, tokenizer=tiny_lm.tokenizer, batch_size=4, add_bos_token=False
        )
        (theirs_rolling,) = hf.loglikelihood_rolling(_requests("loglikelihood_rolling", [(text,)]))
    (ours_rolling,) = AdapterLM(adapter).loglikelihood_rolling(
        _requests("loglikelihood_rolling", [(text,)])
    )
    assert ours_rolling == pytest.approx(theirs_rolling, abs=1e-4)


def test_rolling_windows_predict_every_token_once(tiny_lm):
    short = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, max_length=14)
    lm = AdapterLM(short)
    text = (
        "Count: one, two, three, four, five, six, seven, eight. "
        "Question: What comes after two?\nAnswer: After two comes three."
    )
    pieces, n = lm.rolling_pieces(text)
    assert n == len(tiny_lm.tokenizer(text, add_special_tokens=False)["input_ids"]) > 14
    assert len(pieces) > 1
    assert "".join(c for _, c in pieces) == text
    assert pieces[0][0] == ""  # the adapter's BOS is the first window's context
    encoded = short.encode_many([p for p, _ in pieces], [c for _, c in pieces])
    assert sum(e.n_continuation for e in encoded) == n
    assert all(len(e.ids) <= 14 for e in encoded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every token of the text scored exactly once
        (rolled,) = lm.loglikelihood_rolling(_requests("loglikelihood_rolling", [(text,)]))
    scores = short.score([p for p, _ in pieces], [c for _, c in pieces])
    assert rolled == pytest.approx(sum(float(s.logprobs.sum()) for s in scores), abs=1e-5)


def test_generate_until_stops_at_the_task_stop_strings(adapter):
    ctx = "Question: What comes after two?\nAnswer:"
    reqs = [(ctx, {"until": ["comes"], "max_gen_toks": 10}), (ctx, {"until": "\n"})]
    out = AdapterLM(adapter).generate_until(_requests("generate_until", reqs))
    assert out[0] == adapter.generate([ctx], max_new_tokens=10, stop=("comes",))[0]
    assert "comes" not in out[0] and out[0].strip() == "After two"
    assert out[1] == adapter.generate([ctx], max_new_tokens=256, stop=("\n",))[0]
    assert out[1] == " After two comes three."


def test_a_format_without_special_tokens_gets_the_bos_text(tiny_lm, adapter):
    """An adapter whose prompt format writes BOS itself (chat templates, a system prompt
    holding <s>) encodes without special tokens: the BOS text is written before the task's
    context, so the harness's texts start as the tokenizer starts them."""
    fmt = PromptFormat(system_prompt=tiny_lm.tokenizer.bos_token)
    bare = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer, prompt_format=fmt)
    assert bare.prompt_format.add_special_tokens is False
    pairs = [("Question: What comes after two?\nAnswer:", " After two comes three."), ("", "One")]
    a = AdapterLM(bare).loglikelihood(_requests("loglikelihood", pairs))
    b = AdapterLM(adapter).loglikelihood(_requests("loglikelihood", pairs))
    for (x, gx), (y, gy) in zip(a, b, strict=True):
        assert x == pytest.approx(y, abs=1e-5) and gx == gy


# -- tasks end to end -----------------------------------------------------------------------
def test_mmlu_style_task_gives_acc_per_question(adapter, harness_run):
    res = harness_run.results["counting_letters/acc"]
    assert len(res) == 8 and res.ids == tuple(str(i) for i in range(8))
    assert set(res.values) <= {0.0, 1.0}
    assert res.aggregate == pytest.approx(mean(res.values))
    assert res.aggregate == pytest.approx(
        harness_run.raw["results"]["counting_letters"]["acc,none"]
    )
    assert res.higher_is_better is True
    low, high = res.ci
    assert low <= res.aggregate <= high
    # each question recomputed through the adapter: MMLU's prompt, " A" ... " D"
    expected, expected_norm = [], []
    for doc in _docs():
        lines = [doc["question"]] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(doc["choices"])]
        prompt = DESCRIPTION + "\n".join(lines) + "\nAnswer:"
        conts = [f" {x}" for x in LETTERS]
        lls = [-s.nll for s in adapter.score([prompt] * 4, conts)]
        expected.append(mcq_correct(lls, doc["answer"]))
        expected_norm.append(mcq_correct(lls, doc["answer"], [len(x) for x in LETTERS]))
    assert list(res.values) == expected
    assert list(harness_run.results["counting_letters/acc_norm"].values) == expected_norm
    assert len(harness_run.samples["counting_letters"]) == 8


def test_cloze_task_and_group_aggregate(adapter, harness_run):
    cloze = harness_run.results["counting_cloze/acc_norm"]
    expected = []
    for doc in _docs():
        word = doc["question"].split()[-1][:-1]
        prompt = f"Question: {doc['question']}\nAnswer: After {word} comes"
        lls = [-s.nll for s in adapter.score([prompt] * 4, [" " + c for c in doc["choices"]])]
        # acc_norm: log-likelihood per character of the choice (the harness's definition)
        expected.append(mcq_correct(lls, doc["answer"], [len(c) for c in doc["choices"]]))
    assert list(cloze.values) == expected
    group = harness_run.results["counting/acc"]
    assert len(group) == 16 and group.ids[0] == "counting_letters:0"
    letters = harness_run.results["counting_letters/acc"].values
    assert group.values == letters + harness_run.results["counting_cloze/acc"].values
    assert group.aggregate == pytest.approx(mean(group.values))
    assert group.aggregate == pytest.approx(harness_run.raw["groups"]["counting"]["acc,none"])


def test_generation_task_scores_the_adapters_generations(adapter, harness_run):
    res = harness_run.results["counting_generate/exact_match,strip"]
    assert len(res) == 8
    prompts = [f"Question: {d['question']}\nAnswer:" for d in _docs()]
    gens = adapter.generate(prompts, max_new_tokens=12, stop=("\n",))
    targets = [
        f"After {d['question'].split()[-1][:-1]} comes {d['choices'][d['answer']]}."
        for d in _docs()
    ]
    assert list(res.values) == [float(g.strip() == t) for g, t in zip(gens, targets, strict=True)]
    assert res.aggregate == pytest.approx(mean(res.values))


def test_limit_and_few_shot_examples(adapter):
    out = run_lm_eval_tasks(
        adapter, ["counting_letters"], TASKS, limit=3, num_fewshot=1, bootstrap=0
    )
    res = out.results["counting_letters/acc"]
    assert len(res) == 3 and res.ci is None
    prompt = out.samples["counting_letters"][0]["arguments"][0][0]
    # the dev split's first question comes first (sampler first_n), then the document's
    assert prompt.index("What comes after nine?") < prompt.index("What comes after one?")
    assert prompt.startswith(DESCRIPTION) and prompt.endswith("D. six\nAnswer:")


# -- errors ---------------------------------------------------------------------------------
def test_unknown_task_names_the_tasks_there_are(adapter):
    with pytest.raises(LMEvalError, match="unknown lm-eval task 'mmlu_tiny'") as err:
        run_lm_eval_tasks(adapter, ["mmlu_tiny"], TASKS)
    for name in ("counting", "counting_cloze", "counting_generate", "counting_letters"):
        assert name in str(err.value)


def test_bad_include_path_and_missing_data_file(adapter, tmp_path):
    with pytest.raises(LMEvalError, match="does not exist"):
        run_lm_eval_tasks(adapter, ["counting_letters"], tmp_path / "nowhere")
    (tmp_path / "broken.yaml").write_text(
        "task: broken\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        "    test: missing.jsonl\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\ndoc_to_target: answer\n"
    )
    with pytest.raises(LMEvalError, match=r"could not run \['broken'\]"):
        run_lm_eval_tasks(adapter, ["broken"], tmp_path)
    with pytest.raises(LMEvalError, match="task names"):
        run_lm_eval_tasks(adapter, [], TASKS)


def test_without_the_harness_the_error_says_how_to_install(monkeypatch, adapter):
    import unlearnkit.evaluation.lm_harness as harness

    monkeypatch.setattr(harness, "_HarnessLM", object)
    with pytest.raises(LMEvalError, match=r"pip install \"unlearnkit\[lm-eval\]\""):
        harness.run_lm_eval_tasks(adapter, ["counting_letters"], TASKS)


# -- from the evaluation config -------------------------------------------------------------
def test_lm_eval_suite_from_the_evaluation_config(adapter, tmp_path):
    report = evaluate(
        adapter,
        TOFU,
        suites=["lm_eval"],
        lm_eval_tasks=["counting_letters"],
        lm_eval_include=str(TASKS),
        lm_eval_limit=4,
        bootstrap=0,
    )
    res = report.results["lm_eval"]["counting_letters/acc"]
    assert len(res) == 4 and res.config["limit"] == 4
    assert report.passes["model"]["scored"] == 16  # 4 questions x 4 choices, one pass
    assert report.config["lm_eval_tasks"] == ["counting_letters"]
    report.save(tmp_path / "results.json")
    # without task names the item is skipped with what to set
    out = run_suite("lm_eval", EvalContext(adapter), None)  # type: ignore[arg-type]
    assert not out.results and "lm_eval_tasks" in out.skipped["lm_eval"]
    with pytest.raises(ConfigError, match="add it to the suites"):
        EvalConfig(suites=("tofu",), lm_eval_tasks=("counting_letters",))


def test_lm_eval_alone_needs_no_benchmark_data(adapter, tiny_lm, tmp_path):
    report = evaluate(
        adapter,
        None,
        suites=["lm_eval"],
        lm_eval_tasks=["counting_letters"],
        lm_eval_include=str(TASKS),
        lm_eval_limit=2,
        bootstrap=0,
    )
    assert len(report.results["lm_eval"]["counting_letters/acc"]) == 2
    assert report.data["tofu"] is None and "no data" in report.data["source"]
    with pytest.raises(ConfigError, match=r"the tofu suite.* read benchmark files"):
        evaluate(adapter, None, suites=["tofu", "lm_eval"], lm_eval_tasks=["counting_letters"])
    # the command line: no --data with the lm_eval suite alone; a clear error otherwise
    from typer.testing import CliRunner

    from unlearnkit.cli import app

    out = tmp_path / "eval.json"
    args = ["eval", "--model", str(tiny_lm.path), "--suite", "lm_eval", "--out", str(out)]
    settings = ["lm_eval_tasks=[counting_letters]", f"lm_eval_include={TASKS}", "lm_eval_limit=2"]
    res = CliRunner().invoke(app, [*args, *settings, "bootstrap=0"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["results"]["lm_eval"]["counting_letters/acc"]
    res = CliRunner().invoke(app, [*args[:-4], "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "a data directory" in res.output
