"""Seeding: stable derived seeds, keyed generators, global seeding and thread pinning."""

import os
import random

import numpy as np
import pytest
import torch

from unlearnkit.core.seeding import derive_seed, make_generator, seed_everything, set_threads


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # sha256("1234\x1fforget\x1f3")[:4] >> 1, computed once by hand. These values must
        # never change: every stored result's data split and init depends on them.
        ((1234, "forget", 3), 145393699),
        ((0,), 804681139),
        ((7, "a"), 1110317067),
    ],
)
def test_derive_seed_is_pinned(args, expected):
    assert derive_seed(*args) == expected


@pytest.mark.parametrize(
    "args", [(0,), (1234, "forget", 3), (2**40, "x"), (-5, None, 1.5), (3, ("tuple", 1))]
)
def test_derive_seed_is_a_31_bit_int(args):
    s = derive_seed(*args)
    assert isinstance(s, int)
    assert 0 <= s < 2**31
    assert derive_seed(*args) == s


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((1234, "forget"), (1234, "retain")),
        ((1234, "forget"), (1235, "forget")),
        ((1234,), (1234, "forget")),
        ((1, "a", "b"), (1, "b", "a")),
        ((1, "a", "b"), (1, "ab")),
        ((1, 0), (1, 1)),
    ],
)
def test_derive_seed_differs_by_seed_and_keys(a, b):
    assert derive_seed(*a) != derive_seed(*b)


def test_make_generator_same_seed_and_keys_same_sequence():
    g1, g2 = make_generator(7, "forget", 0), make_generator(7, "forget", 0)
    assert torch.equal(torch.rand(16, generator=g1), torch.rand(16, generator=g2))
    assert g1.initial_seed() == derive_seed(7, "forget", 0)


@pytest.mark.parametrize("other", [(8, "forget", 0), (7, "retain", 0), (7, "forget", 1), (7,)])
def test_make_generator_other_seed_or_keys_other_sequence(other):
    base = torch.rand(16, generator=make_generator(7, "forget", 0))
    assert not torch.equal(base, torch.rand(16, generator=make_generator(*other)))


def test_make_generator_without_keys_uses_the_seed_itself():
    g = make_generator(42)
    assert g.initial_seed() == 42
    ref = torch.Generator().manual_seed(42)
    assert torch.equal(torch.rand(8, generator=g), torch.rand(8, generator=ref))


def test_make_generator_does_not_touch_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    torch.rand(100, generator=make_generator(1, "x"))
    assert torch.equal(torch.rand(4), expected)


def _draw() -> tuple[list[float], list[float], torch.Tensor]:
    return (
        [random.random() for _ in range(4)],
        np.random.rand(4).tolist(),
        torch.rand(4),
    )


@pytest.mark.parametrize("seed", [0, 123, 2**40 + 3])
def test_seed_everything_makes_random_numpy_torch_reproducible(seed):
    seed_everything(seed)
    py1, np1, t1 = _draw()
    seed_everything(seed)
    py2, np2, t2 = _draw()
    assert py1 == py2
    assert np1 == np2
    assert torch.equal(t1, t2)
    seed_everything(seed + 1)
    py3, np3, t3 = _draw()
    assert py3 != py1 and np3 != np1 and not torch.equal(t3, t1)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_set_threads_pins_torch_threads(restore_threads, n):
    assert set_threads(n) == n
    assert torch.get_num_threads() == n


def test_set_threads_default_reads_env(restore_threads, monkeypatch):
    monkeypatch.setenv("UNLEARNKIT_THREADS", "2")
    assert set_threads() == 2
    assert torch.get_num_threads() == 2


def test_set_threads_default_without_env_uses_cpu_count(restore_threads, monkeypatch):
    monkeypatch.delenv("UNLEARNKIT_THREADS", raising=False)
    expected = os.cpu_count() or 1
    assert set_threads() == expected
    assert torch.get_num_threads() == expected
