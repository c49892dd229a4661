"""Conformance suite generated from the metric and attack registries: every registered metric
(of every model family) has a described, cited, round-tripping config, and every language-model
metric and membership-inference attack must pass on the real tiny counting model. The
classifier's and recommender's metrics run in test_family_metrics.py."""

from __future__ import annotations

import itertools
import math

import pytest

import unlearnkit.audit.classifier
import unlearnkit.audit.recommender  # noqa: F401  (they register the audits' metrics)
from tests.conftest import COUNTING
from unlearnkit.core.errors import ConfigError
from unlearnkit.evaluation import METRICS, MIA_ATTACKS, EvalContext, Split
from unlearnkit.evaluation.metrics import Metric, MetricError, metric_family, metrics_of
from unlearnkit.models.adapters.causal_lm import CausalLMAdapter

METRIC_NAMES = METRICS.names()
ATTACK_NAMES = MIA_ATTACKS.names()
RUN_METRICS = [n for n in metrics_of("lm") if not METRICS.entry(n).meta.get("composite")]


def test_the_core_set_is_registered():
    assert {
        "probability",
        "normalised_probability",
        "truth_ratio",
        "forget_quality",
        "rouge_l",
        "model_utility",
        "exact_memorisation",
        "extraction_strength",
        "verbmem",
        "knowmem",
    } <= set(METRIC_NAMES)
    assert {"loss", "zlib", "min_k", "min_k_pp", "reference", "gradnorm"} <= set(ATTACK_NAMES)


def test_every_metric_belongs_to_a_family_of_the_runner():
    """Each registered metric measures one model family's models: ``lm`` ones are
    :class:`Metric` (this module runs them), the other families' are run by
    test_family_metrics.py; the families are the runner's."""
    from unlearnkit.runner.families import FAMILIES

    families = {FAMILIES.get(n).method_family for n in FAMILIES.names()}
    by_family = {f: metrics_of(f, audit=None) for f in families}
    assert sorted(n for names in by_family.values() for n in names) == METRIC_NAMES
    for name in by_family["lm"]:
        assert issubclass(METRICS.get(name), Metric)
    for family, names in by_family.items():
        assert all(metric_family(n) == family for n in names)
        evaluation, audits = set(metrics_of(family)), set(metrics_of(family, audit=True))
        assert set(names) == evaluation | audits and not evaluation & audits


# ------------------------------------------------------------------------------ data
def _trained_qa() -> list[dict]:
    """The counting questions the tiny model was trained on (members)."""
    out = []
    for i, (a, b) in enumerate(itertools.pairwise(COUNTING)):
        wrong = [COUNTING[(i + 4) % 10], COUNTING[(i + 7) % 10]]
        out.append(
            {
                "question": f"What comes after {a}?",
                "answer": f"After {a} comes {b}.",
                "paraphrased_answer": f"{b.capitalize()} comes after {a}.",
                "perturbed_answer": [f"After {a} comes {w}." for w in wrong],
            }
        )
    return out


UNSEEN_QA = [
    {"question": "Which colour is the sky?", "answer": "The sky is blue."},
    {"question": "Who wrote the letter?", "answer": "A tall gardener wrote it."},
    {"question": "Where is the red barn?", "answer": "Behind the quiet mill."},
    {"question": "How many legs has a spider?", "answer": "A spider has eight legs."},
]

PASSAGES = [
    {"prompt": "Count:", "gt": " one, two, three, four, five, six, seven, eight."},
    {"prompt": "Question: What comes after two?\nAnswer:", "gt": " After two comes three."},
    {"prompt": "Count: one, two,", "gt": " three, four, five, six, seven, eight."},
]


def _mcq() -> list[dict]:
    """Four-option questions on the counting the tiny model was trained on (right: index
    ``i % 4``)."""
    qa = _trained_qa()
    out = []
    for i, r in enumerate(qa[:4]):
        right = r["answer"]
        wrong = [*r["perturbed_answer"], r["paraphrased_answer"]]
        choices = wrong[:3]
        choices.insert(i % 4, right)
        out.append({"question": r["question"], "choices": choices, "answer": i % 4})
    return out


def _split_for(name: str) -> Split:
    if name == "verbmem":
        return Split("forget", PASSAGES)
    if name == "mcq_accuracy":
        return Split("wmdp_hazard", _mcq())
    qa = _trained_qa()
    if name == "knowmem":
        return Split("forget_qa", qa[1:4], context=qa[:1])
    return Split("forget", qa[:4])


MEMBERS = Split("forget", _trained_qa())
NONMEMBERS = Split("holdout", UNSEEN_QA)


# ------------------------------------------------------------------------------ contexts
@pytest.fixture(scope="module")
def ctx(tiny_lm) -> EvalContext:
    """One context for the module: scores and generations are shared between tests."""
    return EvalContext(CausalLMAdapter.from_pretrained(tiny_lm.path))


@pytest.fixture(scope="module")
def untrained_reference(tiny_lm) -> EvalContext:
    """A model of the same shape and tokenizer that never saw the counting data."""
    from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm

    cfg = TinyLMConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128)
    model = build_tiny_lm(cfg, tiny_lm.tokenizer, seed=1)
    return EvalContext(CausalLMAdapter(model, tiny_lm.tokenizer), name="reference")


# ------------------------------------------------------------------------------ configs
@pytest.mark.parametrize(
    ("registry", "name"),
    [(METRICS, n) for n in METRIC_NAMES] + [(MIA_ATTACKS, n) for n in ATTACK_NAMES],
    ids=[f"metric-{n}" for n in METRIC_NAMES] + [f"attack-{n}" for n in ATTACK_NAMES],
)
def test_config_defaults_and_round_trips(registry, name, tmp_path):
    entry = registry.entry(name)
    assert entry.description, f"{name} needs a description (its docstring's first line)"
    assert entry.meta.get("paper"), f"{name} must cite its paper"
    assert entry.obj.__doc__
    unit = entry.obj()
    cfg = unit.config
    assert isinstance(cfg, entry.obj.config_class)
    assert cfg == entry.obj.config_class()
    assert unit.name == name
    path = tmp_path / f"{name}.yaml"
    cfg.to_yaml(path)
    assert type(cfg).from_yaml(path) == cfg
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    assert entry.obj(cfg.to_dict()).config == cfg  # a mapping builds the same config
    assert entry.obj(seed=7).config.seed == 7
    with pytest.raises(ConfigError, match="no_such_field"):
        entry.obj(no_such_field=1)
    with pytest.raises(ConfigError):
        type(cfg).from_dict({"no_such_field": 1})


# ------------------------------------------------------------------------------ running
def _check_values(res, n: int) -> None:
    assert len(res.values) == n
    assert len(res.ids) == n and len(set(res.ids)) == n
    assert all(math.isfinite(v) or math.isnan(v) for v in res.values), res.values
    assert isinstance(res.higher_is_better, bool)
    assert res.ci is not None
    low, high = res.ci
    assert low <= res.aggregate <= high or math.isclose(low, high)


@pytest.mark.parametrize("name", RUN_METRICS)
def test_metric_runs_on_the_tiny_model(name, ctx):
    overrides = {"bootstrap": 50}
    if "max_new_tokens" in {f for f in METRICS.get(name).config_class.__dataclass_fields__}:
        overrides["max_new_tokens"] = 16
    metric = METRICS.get(name)(**overrides)
    split = _split_for(name)
    oracle = ctx if metric.needs_oracle else None
    res = metric.compute(ctx, split, oracle=oracle)
    _check_values(res, len(split.records))
    assert res.name == f"{split.name}/{name}"
    assert math.isfinite(res.aggregate)
    if name == "forget_quality":
        assert res.aggregate == pytest.approx(1.0)  # the model is its own oracle


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_runs_on_the_tiny_model(name, ctx, untrained_reference):
    attack = MIA_ATTACKS.get(name)(bootstrap=50)
    reference = untrained_reference if attack.uses_reference else None
    res = attack.evaluate(ctx, MEMBERS, NONMEMBERS, reference=reference)
    _check_values(res, len(MEMBERS.records) + len(NONMEMBERS.records))
    assert res.name == f"forget_vs_holdout/mia_{name}"
    assert 0.0 <= res.aggregate <= 1.0


def test_the_reference_attack_refuses_the_model_as_its_own_reference(ctx):
    """Its own reference would make every score -(a - a) = 0 and the AUC 0.5 whatever the
    model remembers: an error that says so, never that number."""
    attack = MIA_ATTACKS.get("reference")(bootstrap=0)
    with pytest.raises(MetricError, match=r"0\.5 by construction"):
        attack.evaluate(ctx, MEMBERS, NONMEMBERS, reference=ctx)


def test_gradnorm_is_the_mean_of_per_tensor_gradient_norms(ctx):
    """GradNorm by hand on the tiny model: the loss is the mean NLL of every answer token but
    the last, each parameter tensor's gradient 2-norm is taken once (tied embeddings are one
    tensor), and the score is minus their plain mean (open-unlearning / MIMIR)."""
    import torch

    split = Split("forget", _trained_qa()[:2])
    got = MIA_ATTACKS.get("gradnorm")(bootstrap=0).scores(ctx, split)
    adapter = ctx.adapter
    model = adapter.model
    params = list(model.parameters())
    tied = model.get_input_embeddings().weight is model.get_output_embeddings().weight
    names = {id(p) for p in params}
    assert len(names) == len(params)  # parameters() yields a tied tensor once
    fmt = adapter.prompt_format
    for record, score in zip(split.records, got, strict=True):
        enc = adapter.encode(fmt.prompt(record["question"]), fmt.continuation(record["answer"]))
        ids = torch.tensor([enc.ids])
        model.zero_grad(set_to_none=True)
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)  # (L, V)
        targets = ids[0, enc.n_prompt :]
        lp = logp[enc.n_prompt - 1 : -1].gather(-1, targets[:, None]).squeeze(-1)
        loss = -lp[:-1].mean()  # every answer token but the last
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        norms = [g.norm(2) for g in grads if g is not None]
        expected = -float(torch.stack(norms).mean())
        assert score == pytest.approx(expected, rel=1e-4), (record, tied)
        # not the global norm over every parameter at once
        assert score != pytest.approx(-float(torch.stack(norms).square().sum().sqrt()), rel=1e-3)


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_orientation_members_score_higher(name, ctx, untrained_reference):
    """Higher = more member-like: trained counting QA against unseen QA gives AUC > 0.5
    (measured: 1.0 for every attack on this fixture)."""
    attack = MIA_ATTACKS.get(name)(bootstrap=0)
    reference = untrained_reference if attack.uses_reference else None
    res = attack.evaluate(ctx, MEMBERS, NONMEMBERS, reference=reference)
    assert res.aggregate > 0.5, f"{name}: AUC {res.aggregate:.3f}"


def test_attack_against_its_own_oracle_has_zero_privleak(ctx):
    res = MIA_ATTACKS.get("min_k")(bootstrap=0).evaluate(ctx, MEMBERS, NONMEMBERS, oracle=ctx)
    assert res.extra["auc_oracle"] == res.aggregate
    assert res.extra["privleak"] == 0.0


# ------------------------------------------------------------------------------ sharing
def test_metrics_on_the_same_pairs_share_one_teacher_forced_pass(tiny_lm):
    ctx = EvalContext(CausalLMAdapter.from_pretrained(tiny_lm.path))
    split = Split("forget", _trained_qa()[:4])
    n = len(split.records)

    METRICS.get("probability")(bootstrap=0).compute(ctx, split)
    assert ctx.counts.scored == n and ctx.counts.score_hits == 0
    forward = ctx.counts.forward_calls
    for name in ("exact_memorisation", "extraction_strength"):
        METRICS.get(name)(bootstrap=0).compute(ctx, split)
    MIA_ATTACKS.get("loss")(bootstrap=0).scores(ctx, split)
    assert ctx.counts.scored == n  # nothing new scored
    assert ctx.counts.score_hits == 3 * n
    assert ctx.counts.forward_calls == forward

    # truth ratio, then forget quality on the same pairs (its oracle is the same context)
    METRICS.get("truth_ratio")(bootstrap=0).compute(ctx, split)
    scored = ctx.counts.scored
    assert scored == n + 3 * n  # paraphrased + two perturbed answers per record
    hits = ctx.counts.score_hits
    METRICS.get("forget_quality")(bootstrap=0).compute(ctx, split, oracle=ctx)
    assert ctx.counts.scored == scored
    assert ctx.counts.score_hits == hits + 2 * 3 * n  # the model's ratios and the oracle's


def test_rouge_metrics_on_the_same_prompts_share_generations(tiny_lm):
    ctx = EvalContext(CausalLMAdapter.from_pretrained(tiny_lm.path))
    split = Split("forget", _trained_qa()[:3])
    recall = METRICS.get("rouge_l")(bootstrap=0, max_new_tokens=16).compute(ctx, split)
    assert ctx.counts.generated == 3 and ctx.counts.generate_hits == 0
    f1 = METRICS.get("rouge_l")(bootstrap=0, max_new_tokens=16, measure="f1").compute(ctx, split)
    assert ctx.counts.generated == 3 and ctx.counts.generate_hits == 3
    assert f1.extra["generations"] == recall.extra["generations"]
    # the trained model answers its counting questions verbatim
    assert recall.values == (1.0, 1.0, 1.0)


def test_gradnorm_in_train_mode_is_seeded_per_example(tiny_lm):
    """GradNorm runs in training mode, as open-unlearning's: with dropout its values are
    seeded per example (the same whatever else is computed first, and the caller's RNG is
    left alone); without dropout the mode changes nothing."""
    import torch

    from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm

    cfg = TinyLMConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model = build_tiny_lm(cfg, tiny_lm.tokenizer, seed=3).eval()
    split = Split("forget", _trained_qa()[:3])
    reverse = Split("forget", list(reversed(split.records)))

    def scores(mode: str, data: Split = split) -> list[float]:
        ctx = EvalContext(CausalLMAdapter(model, tiny_lm.tokenizer))
        return MIA_ATTACKS.get("gradnorm")(bootstrap=0, mode=mode).scores(ctx, data)

    plain = scores("train")
    assert plain == pytest.approx(scores("eval"), rel=1e-6)  # no dropout: same numbers
    for m in model.modules():
        if hasattr(m, "attention_dropout"):
            m.attention_dropout = 0.5
    state = torch.random.get_rng_state()
    dropped = scores("train")
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG untouched
    assert dropped == scores("train")  # seeded
    assert list(reversed(scores("train", reverse))) == dropped  # per example, any order
    assert dropped != pytest.approx(plain, rel=1e-6)  # dropout was on
    assert scores("eval") == pytest.approx(plain, rel=1e-6)  # and off in eval mode
    assert model.training is False  # the caller's (eval) mode restored
