"""Seeded statistics over per-example results: percentile bootstrap confidence intervals.

METRICS.md, "Statistics": report mean ± 95% bootstrap CI over items. Every function takes
an explicit ``seed`` and draws from its own ``numpy.random.default_rng(seed)``, never the
global RNG, so the same inputs and seed always give the same interval.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["bootstrap_ci"]

# Resamples are drawn in chunks of at most this many index entries (int64), to bound memory
# (~64 MB for indices and values) while keeping the default mean fully vectorised.
_CHUNK_ELEMENTS = 1 << 22


def bootstrap_ci(
    *samples: Sequence[float],
    statistic: Callable[..., float] | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    paired: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic(*resampled_samples)``.

    Each resample draws, with replacement, as many items as each sample holds, and the
    interval is the ``(1 - level)/2`` and ``(1 + level)/2`` percentiles (linear
    interpolation) of the statistic over ``n_resamples`` resamples (Efron & Tibshirani,
    "An Introduction to the Bootstrap", 1993, ch. 13).

    Args:
        *samples: one or more 1-D samples of floats (lists, numpy arrays, CPU tensors).
        statistic: called with one resampled numpy array per sample, returns a float. The
            default, allowed only with a single sample, is the mean ignoring NaN
            (vectorised over resamples). A general statistic is called once per resample.
        n_resamples: number of bootstrap resamples (>= 1).
        level: confidence level in (0, 1), e.g. 0.95.
        seed: seed of the ``numpy.random.default_rng`` that draws the resamples.
        paired: ``False`` resamples each sample independently (stratified bootstrap, e.g.
            the AUC of members vs non-members). ``True`` requires equal lengths and reuses
            the same indices for every sample, keeping item i of each together (e.g. model
            vs oracle truth ratios on the same forget items).

    Returns:
        ``(low, high)`` as floats. Resamples whose statistic is NaN are dropped; if every
        resample is NaN, or any sample is empty, the result is ``(nan, nan)``.

    Raises:
        ValueError: on no samples, a non-1-D sample, a default statistic with several
            samples, paired samples of different lengths, ``level`` not in (0, 1) or
            ``n_resamples`` < 1.
    """
    if not samples:
        raise ValueError("bootstrap_ci: pass at least one sample, e.g. bootstrap_ci(values)")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral):
        raise ValueError(
            f"bootstrap_ci: n_resamples={n_resamples!r} must be an int >= 1 (e.g. 1000)"
        )
    if n_resamples < 1:
        raise ValueError(f"bootstrap_ci: n_resamples={n_resamples!r} must be >= 1 (e.g. 1000)")
    level = float(level)
    if not 0.0 < level < 1.0:  # NaN fails too
        raise ValueError(
            f"bootstrap_ci: level={level!r} must be in (0, 1), e.g. 0.95 for a 95% interval"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"bootstrap_ci: seed={seed!r} must be an int, e.g. 0")

    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ValueError(f"bootstrap_ci: sample {i} must be 1-D, got shape {a.shape}")
    if statistic is None and len(arrays) != 1:
        raise ValueError(
            f"bootstrap_ci: the default statistic (mean) takes one sample, got {len(arrays)}; "
            "pass statistic=... taking one array per sample"
        )
    lengths = [a.shape[0] for a in arrays]
    if paired and len(set(lengths)) != 1:
        raise ValueError(
            f"bootstrap_ci: paired=True needs samples of the same length (item i of each "
            f"belongs together), got lengths {lengths}; use paired=False for independent samples"
        )
    if min(lengths) == 0:
        return (math.nan, math.nan)

    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // sum(lengths))
    values: list[np.ndarray] = []
    done = 0
    while done < n_resamples:
        rows = min(rows_per_chunk, n_resamples - done)
        if paired:
            shared = rng.integers(0, lengths[0], size=(rows, lengths[0]))  # (rows, n)
            indices = [shared] * len(arrays)
        else:
            indices = [rng.integers(0, n, size=(rows, n)) for n in lengths]  # (rows, n_j)
        resampled = [a[idx] for a, idx in zip(arrays, indices, strict=True)]  # (rows, n_j)
        if statistic is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN row -> NaN, dropped
                values.append(np.nanmean(resampled[0], axis=1))
        else:
            values.append(
                np.array(
                    [float(statistic(*(r[j] for r in resampled))) for j in range(rows)],
                    dtype=np.float64,
                )
            )
        done += rows

    stats = np.concatenate(values)
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(stats, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return (float(low), float(high))
