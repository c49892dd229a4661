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

__all__ = ["auc_of_resamples", "bootstrap_ci", "percentile_interval", "resample_counts"]

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
    from unlearnkit.evaluation.functional.mia import auc

    if statistic is auc and len(arrays) == 2 and not paired:
        # the AUC of every resample at once, from the same draws as the general path
        stats = np.concatenate(
            [
                auc_of_resamples(arrays[0], arrays[1], cm, cn)
                for cm, cn in resample_counts(lengths, n_resamples, seed)
            ]
        )
        return percentile_interval(stats, level)

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

    return percentile_interval(np.concatenate(values), level)


def percentile_interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    """The ``(1 - level)/2`` and ``(1 + level)/2`` percentiles of the non-NaN ``stats``
    (``(nan, nan)`` when none is left)."""
    stats = np.asarray(stats, dtype=np.float64)
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(stats, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return (float(low), float(high))


def resample_counts(lengths: Sequence[int], n_resamples: int, seed: int):
    """Independent (stratified) bootstrap resamples as multiplicity matrices: yields, chunk
    by chunk, one ``(rows, n_j)`` array per sample whose entry ``[b, i]`` counts how often
    item ``i`` was drawn in resample ``b``. The draws are exactly those of
    :func:`bootstrap_ci` with ``paired=False`` and the same seed."""
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // sum(lengths))
    done = 0
    while done < n_resamples:
        rows = min(rows_per_chunk, n_resamples - done)
        out = []
        for n in lengths:
            idx = rng.integers(0, n, size=(rows, n))
            flat = (idx + n * np.arange(rows)[:, None]).ravel()
            out.append(np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64))
        yield out
        done += rows


def auc_of_resamples(
    members: np.ndarray, nonmembers: np.ndarray, member_counts: np.ndarray, nonmember_counts
) -> np.ndarray:
    """The AUC (members positive, ties one half, NaN scores dropped) of each resample given
    by multiplicity matrices (:func:`resample_counts`), in one matrix product: the AUC of
    resample b is ``Σ_ij cm[b,i] C[i,j] cn[b,j] / (Σ cm[b] · Σ cn[b])`` with
    ``C[i,j] = 1[m_i > n_j] + ½·1[m_i = n_j]`` over the non-NaN items."""
    m = np.asarray(members, dtype=np.float64)
    n = np.asarray(nonmembers, dtype=np.float64)
    keep_m, keep_n = ~np.isnan(m), ~np.isnan(n)
    wins = (m[keep_m, None] > n[None, keep_n]).astype(np.float64)
    wins += 0.5 * (m[keep_m, None] == n[None, keep_n])
    cm, cn = member_counts[:, keep_m], nonmember_counts[:, keep_n]
    total = cm.sum(axis=1) * cn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, ((cm @ wins) * cn).sum(axis=1) / total, np.nan)
