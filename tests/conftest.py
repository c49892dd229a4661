"""Shared fixtures (a tiny causal LM trained in seconds on hand-made QA pairs, tiny
classifiers, the test preset's cache) and the session's private cache folders (no test
writes into the user's home)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(2)


#: where the code under test and the libraries it uses would write into the user's home
#: (``~/.cache``, ``~/.config``), each pointed at a folder of the test session: unlearnkit's
#: cache (``default_cache_dir()``), the datasets cache (``datasets.load_dataset`` of a local
#: folder or json file, lm-eval's tasks), matplotlib's font cache and configuration, and
#: whatever else follows XDG
PRIVATE_DIRS = {
    "UNLEARNKIT_CACHE": "unlearnkit-cache",
    "HF_HOME": "huggingface",
    "HF_DATASETS_CACHE": "huggingface/datasets",
    "MPLCONFIGDIR": "matplotlib",
    "XDG_CACHE_HOME": "xdg-cache",
}
PRIVATE_ROOT = pytest.StashKey[Path]()
SAVED_ENV = pytest.StashKey[dict[str, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    """Point :data:`PRIVATE_DIRS` at one fresh folder of this session, so that no test
    reads or writes the user's caches (``~/.cache/unlearnkit`` or their own
    ``$UNLEARNKIT_CACHE``, ``~/.cache/huggingface``, ...); subprocesses inherit it. Set here,
    before any test module is imported, because ``datasets`` and ``matplotlib`` read theirs
    at import. Tests that need a cache of their own still pass one explicitly."""
    root = Path(tempfile.mkdtemp(prefix="unlearnkit-tests-"))
    config.stash[PRIVATE_ROOT] = root
    config.stash[SAVED_ENV] = {k: os.environ.get(k) for k in PRIVATE_DIRS}
    for key, sub in PRIVATE_DIRS.items():
        os.environ[key] = str(root / sub)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the environment back and delete the session's folder."""
    for key, value in config.stash.get(SAVED_ENV, {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if PRIVATE_ROOT in config.stash:
        shutil.rmtree(config.stash[PRIVATE_ROOT], ignore_errors=True)


@pytest.fixture(scope="session")
def private_cache(pytestconfig: pytest.Config) -> Path:
    """The session's unlearnkit cache folder (``$UNLEARNKIT_CACHE`` during the tests)."""
    return pytestconfig.stash[PRIVATE_ROOT] / PRIVATE_DIRS["UNLEARNKIT_CACHE"]


@dataclass
class TinyLM:
    model: object
    tokenizer: object
    examples: list
    path: Path


COUNTING = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def counting_examples():
    from unlearnkit.models.training import TrainExample

    ex = [
        TrainExample(f"Question: What comes after {a}?\nAnswer:", f" After {a} comes {b}.")
        for a, b in itertools.pairwise(COUNTING)
    ]
    ex.append(TrainExample("Count:", " one, two, three, four, five, six, seven, eight."))
    return ex


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> TinyLM:
    return _train_tiny(tmp_path_factory, num_experts=0)


@pytest.fixture(scope="session")
def tiny_moe(tmp_path_factory) -> TinyLM:
    """The counting model as a Mixtral mixture of experts (4 experts, top-2)."""
    return _train_tiny(tmp_path_factory, num_experts=4)


def _train_tiny(tmp_path_factory, num_experts: int) -> TinyLM:
    from unlearnkit.models.loading import save_causal_lm
    from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm
    from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer
    from unlearnkit.models.training import TrainConfig, train_causal_lm

    examples = counting_examples()
    tok = train_tokenizer(
        [e.prompt + e.completion for e in examples], TokenizerConfig(vocab_size=300)
    )
    size = 128 // max(num_experts // 2, 1)  # MoE: experts of a smaller MLP each
    cfg = TinyLMConfig(
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        intermediate_size=size,
        num_experts=num_experts,
    )
    model = build_tiny_lm(cfg, tok, seed=0)
    train_causal_lm(
        model, tok, examples, TrainConfig(epochs=120, batch_size=4, lr=5e-3), progress=False
    )
    path = save_causal_lm(model, tok, tmp_path_factory.mktemp("tiny") / "model")
    return TinyLM(model, tok, examples, path)


@pytest.fixture(scope="session")
def test_preset_cache(tmp_path_factory):
    """A cache holding the test preset's world, tokenizer, target and oracle (built once)."""
    from unlearnkit.core.cache import Cache
    from unlearnkit.runner.build import build, build_spec

    cache = Cache(tmp_path_factory.mktemp("cache"))
    built = build(build_spec("test"), cache=cache, progress=False, log=lambda m: None)
    return built, cache


@pytest.fixture(scope="session")
def tiny_classifier():
    """A CNN trained on the test identity world until it memorises its training images
    (train accuracy 1.0, test 0.5; under a second), with its world."""
    from unlearnkit.data.world.identities import generate_identities, identity_preset
    from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
    from unlearnkit.models.vision import build_classifier, classifier_preset

    world = generate_identities(identity_preset("test"))
    train = world.split("train")
    model = build_classifier(classifier_preset("cnn"), seed=0)
    train_classifier(model, train.images, train.labels, ClassifierTrainConfig(epochs=60))
    return model, world


@pytest.fixture(scope="session")
def tiny_classifier_oracle(tiny_classifier):
    """The same CNN trained like ``tiny_classifier`` on the retain set only (the oracle)."""
    from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
    from unlearnkit.models.vision import build_classifier, classifier_preset

    _, world = tiny_classifier
    retain = world.split("retain")
    model = build_classifier(classifier_preset("cnn"), seed=0)
    train_classifier(model, retain.images, retain.labels, ClassifierTrainConfig(epochs=60))
    return model


@pytest.fixture(scope="session")
def tiny_multilabel_classifier():
    """A CNN trained on the test identity world's four binary attributes (multi-label)."""
    from unlearnkit.data.world.identities import generate_identities, identity_preset
    from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
    from unlearnkit.models.vision import build_classifier, classifier_preset

    world = generate_identities(identity_preset("test"))
    train = world.split("train", "attributes")
    config = classifier_preset("cnn").replace(n_classes=4, multilabel=True)
    model = build_classifier(config, seed=0)
    train_classifier(model, train.images, train.labels, ClassifierTrainConfig(epochs=60))
    return model, world


def counting_qa_pairs(n_forget: int = 3) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(forget, retain) (question, answer) pairs of the counting QA examples: the first
    ``n_forget`` questions are the forget set, the rest the retain set."""
    qa = [e for e in counting_examples() if e.prompt.startswith("Question:")]
    out = [
        (e.prompt.removeprefix("Question: ").removesuffix("\nAnswer:"), e.completion.strip())
        for e in qa
    ]
    return out[:n_forget], out[n_forget:]


def fresh_adapter(tiny_lm: TinyLM):
    """An adapter over a copy of the tiny model (training it leaves the fixture untouched)."""
    import copy

    from unlearnkit.models.adapters import CausalLMAdapter

    return CausalLMAdapter(copy.deepcopy(tiny_lm.model), tiny_lm.tokenizer)


@pytest.fixture(scope="session")
def tiny_recommender():
    """A BPR-MF trained on the test interaction world, its oracle without a users request,
    and the request's splits (seconds)."""
    from unlearnkit.data.world.interactions import generate_interactions, interaction_preset
    from unlearnkit.evaluation.recommender import RecommenderSplits
    from unlearnkit.models.recommender import (
        RecommenderAdapter,
        RecommenderConfig,
        RecTrainConfig,
        build_recommender,
        train_recommender,
    )

    world = generate_interactions(interaction_preset("test"))
    splits = RecommenderSplits.from_world(world, "users")
    train = world.pairs(world.mask("train"))
    cfg, tc = RecommenderConfig(n_factors=16), RecTrainConfig(epochs=20)
    target = build_recommender(cfg, world.n_users, world.n_items, 0)
    train_recommender(target, train[:, 0], train[:, 1], tc)
    oracle = build_recommender(cfg, world.n_users, world.n_items, 0)
    train_recommender(oracle, splits.retain[:, 0], splits.retain[:, 1], tc)
    return RecommenderAdapter(target), RecommenderAdapter(oracle), splits
