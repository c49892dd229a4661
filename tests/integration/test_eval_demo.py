"""Sanity law on the demo world: the trained target is recognisably trained on the forget set.

Builds the demo preset into a cache of its own (a few minutes on 2 cores), so it is marked
slow; CI runs it."""

from __future__ import annotations

import pytest

from unlearnkit.evaluation import evaluate


@pytest.mark.slow
def test_target_against_holdout_on_the_forget_set_has_auc_at_least_0_9(tmp_path_factory):
    from unlearnkit.core.cache import Cache
    from unlearnkit.runner.build import build, build_spec

    cache = Cache(tmp_path_factory.mktemp("cache"))  # never the user's cache
    built = build(build_spec("demo"), cache=cache, progress=False, log=lambda m: None)
    report = evaluate(
        built.target_dir,
        built.world,
        ["mia"],
        oracle=built.oracle_dir,
        bootstrap=200,
        cache_dir=tmp_path_factory.mktemp("evalcache"),
    )
    mia = report.results["mia"]
    n = len(built.world.tofu["forget10_perturbed"])
    assert mia["mia_loss"].extra["n_members"] == n >= 100
    for attack in ("loss", "zlib", "min_k", "min_k_pp"):
        res = mia[f"mia_{attack}"]
        assert res.aggregate >= 0.9, (attack, res.aggregate)
        # the oracle never saw the forget people: its AUC is far lower, and PrivLeak (MUSE's
        # sign) negative: the target leaks membership
        assert res.extra["auc_oracle"] < res.aggregate and res.extra["privleak"] < 0
