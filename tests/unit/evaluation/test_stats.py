"""Tests for ``unlearnkit.evaluation.stats.bootstrap_ci``: hand-reasoned intervals (the
reasoning is in the comments), determinism under the seed, paired vs unpaired resampling,
NaN handling and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearnkit.evaluation.functional.mia import auc
from unlearnkit.evaluation.stats import bootstrap_ci


def test_constant_sample_gives_degenerate_interval() -> None:
    # every resample of [2.5] * 20 has mean exactly 2.5 (2.5·n is exact in binary) -> (2.5, 2.5)
    assert bootstrap_ci([2.5] * 20) == (2.5, 2.5)


def test_two_point_sample_exact_percentiles() -> None:
    # Sample [0, 1]: a resample (2 draws) has mean 0, 0.5 or 1 with probability 1/4, 1/2, 1/4.
    # level 0.95 -> 2.5th / 97.5th percentiles: P(mean=0) = 0.25 >> 0.025 (and likewise for 1)
    # -> (0.0, 1.0).
    assert bootstrap_ci([0.0, 1.0], level=0.95) == (0.0, 1.0)
    # level 0.4 -> 30th / 70th percentiles: P(mean <= 0) = 0.25 < 0.30 and
    # P(mean <= 0.5) = 0.75 > 0.70 -> both are 0.5 (≈250 ± 14 zeros of 1000: far from 300).
    assert bootstrap_ci([0.0, 1.0], level=0.4) == (0.5, 0.5)


def test_binary_sample_interval_band() -> None:
    # [0, 1] × 50: mean 0.5; the resampled mean is Binomial(100, 1/2) / 100, sd 0.05,
    # so the 95% CI ≈ 0.5 ± 1.96·0.05 ≈ (0.40, 0.60); quantile noise with 1000 resamples
    # is ~0.004 and the values move in 0.01 steps, hence the ±0.02 band.
    x = [0.0, 1.0] * 50
    lo, hi = bootstrap_ci(x)
    assert 0.38 <= lo <= 0.42
    assert 0.58 <= hi <= 0.62
    assert lo < float(np.mean(x)) < hi


def test_large_sample_vectorised_band() -> None:
    # [0, 1] × 5000: sd of the mean = 0.5 / sqrt(10 000) = 0.005 -> 95% CI ≈ 0.5 ± 0.0098.
    # 1000 resamples of 10 000 values go through the vectorised mean path.
    lo, hi = bootstrap_ci([0.0, 1.0] * 5000)
    assert 0.4880 <= lo <= 0.4920
    assert 0.5080 <= hi <= 0.5120


def test_default_statistic_matches_explicit_nanmean() -> None:
    # The vectorised default and a general statistic draw the same indices from the seed.
    x = np.arange(50, dtype=float) / 7.0
    fast = bootstrap_ci(x, n_resamples=200, seed=3)
    slow = bootstrap_ci(x, statistic=np.nanmean, n_resamples=200, seed=3)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_determinism_under_seed() -> None:
    x = np.arange(100, dtype=float) / 7.0
    assert bootstrap_ci(x, seed=0) == bootstrap_ci(x, seed=0)
    assert bootstrap_ci(x, seed=0) != bootstrap_ci(x, seed=1)


def test_does_not_touch_global_rng() -> None:
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    bootstrap_ci([0.0, 1.0, 2.0], seed=5)
    assert np.random.random() == expected


def test_paired_vs_unpaired() -> None:
    x = [0.0, 1.0] * 50

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(a) - np.mean(b))

    # paired: (a, b) are resampled with the same indices, so a == b in every resample and
    # mean(a) - mean(b) = 0 exactly -> (0.0, 0.0)
    assert bootstrap_ci(x, x, statistic=diff, paired=True, n_resamples=200) == (0.0, 0.0)
    # unpaired: independent resamples; the difference has sd 0.05·√2 ≈ 0.07 -> CI ≈ ±0.14
    lo, hi = bootstrap_ci(x, x, statistic=diff, paired=False, n_resamples=200)
    assert -0.2 < lo < -0.08
    assert 0.08 < hi < 0.2


def test_unpaired_auc_is_stratified() -> None:
    # members [3, 4, 5] vs non-members [0, 1, 2] resampled per side: every resample keeps
    # at least one of each and all members still beat all non-members -> AUC 1 -> (1.0, 1.0)
    assert bootstrap_ci([3.0, 4.0, 5.0], [0.0, 1.0, 2.0], statistic=auc, n_resamples=100) == (
        1.0,
        1.0,
    )


def test_nan_handling() -> None:
    # [1, nan]: nanmean of a resample is 1.0, or NaN when both draws are the NaN (dropped)
    # -> (1.0, 1.0)
    assert bootstrap_ci([1.0, math.nan]) == (1.0, 1.0)
    lo, hi = bootstrap_ci([math.nan, math.nan])
    assert math.isnan(lo) and math.isnan(hi)
    lo, hi = bootstrap_ci([1.0, 2.0], statistic=lambda a: math.nan, n_resamples=10)
    assert math.isnan(lo) and math.isnan(hi)
    lo, hi = bootstrap_ci([])
    assert math.isnan(lo) and math.isnan(hi)
    lo, hi = bootstrap_ci([1.0], [], statistic=auc)
    assert math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("level", [0.0, 1.0, 95, -0.5, math.nan])
def test_bad_level_raises(level: float) -> None:
    with pytest.raises(ValueError, match=r"level=.* must be in \(0, 1\), e.g. 0.95"):
        bootstrap_ci([1.0, 2.0], level=level)


def test_other_validation() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], n_resamples=0)
    with pytest.raises(ValueError, match="at least one sample"):
        bootstrap_ci()
    with pytest.raises(ValueError, match="default statistic"):
        bootstrap_ci([1.0], [2.0])
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ci([1.0, 2.0], [1.0], statistic=lambda a, b: 0.0, paired=True)
    with pytest.raises(ValueError, match="seed"):
        bootstrap_ci([1.0], seed=None)  # type: ignore[arg-type]


# -- the vectorised AUC bootstrap equals the per-resample definition ---------------------------
def _scores(rng, n, nan_at=()):
    x = np.round(rng.normal(size=n), 1)  # rounding makes ties
    x[list(nan_at)] = np.nan
    return x


def test_auc_bootstrap_fast_path_equals_calling_auc_per_resample():
    from unlearnkit.evaluation.functional.mia import auc

    rng = np.random.default_rng(3)
    members, nonmembers = _scores(rng, 37, nan_at=(2, 5)) + 0.4, _scores(rng, 23, nan_at=(0,))
    members[7] = np.inf
    fast = bootstrap_ci(members, nonmembers, statistic=auc, n_resamples=300, seed=11)
    slow = bootstrap_ci(
        members, nonmembers, statistic=lambda a, b: auc(a, b), n_resamples=300, seed=11
    )
    assert fast == pytest.approx(slow, abs=1e-12)


def test_privleak_interval_equals_the_per_resample_loop():
    from unlearnkit.evaluation.functional.mia import auc, privleak
    from unlearnkit.evaluation.mia.base import _paired_privleak_ci

    rng = np.random.default_rng(4)
    m, n = _scores(rng, 30) + 0.5, _scores(rng, 25)
    om, on = _scores(rng, 30) + 0.1, _scores(rng, 25)

    def stat(mi, ni):
        mi, ni = np.asarray(mi, int), np.asarray(ni, int)
        a_oracle = auc(om[mi], on[ni])
        return privleak(auc(m[mi], n[ni]), a_oracle) if a_oracle > 0 else float("nan")

    slow = bootstrap_ci(range(30), range(25), statistic=stat, n_resamples=200, seed=5)
    assert _paired_privleak_ci(m, n, om, on, 200, 0.95, 5) == pytest.approx(slow, abs=1e-9)
