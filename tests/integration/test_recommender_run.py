"""The recommender experiment end to end on the test interaction world: ``unlearnkit run
recommender`` trains and caches the target and oracles, writes results in the runs'
schema (with the sequential requests' histories), the leaderboard and the report."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from typer.testing import CliRunner

from unlearnkit.cli import app
from unlearnkit.core.cache import Cache
from unlearnkit.core.errors import ConfigError
from unlearnkit.core.runs import load_results
from unlearnkit.report.html import write_report
from unlearnkit.report.tables import leaderboard, to_markdown
from unlearnkit.runner.families.recommender import (
    Recommenders,
    sequential_parts,
)
from unlearnkit.runner.run import run_experiment
from unlearnkit.runner.spec import spec_kind

SMALL = [
    "world=test",
    "request=users",
    "sequential=2",
    "train.epochs=15",
    "methods=[{name: rec_retrain}, {name: reverse_bpr}, "
    "{name: sharded_retrain, config: {epochs: 5, n_shards: 2}}]",
    "audit={relearn_steps: [4, 16], bits: [4], noise: [0.01]}",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("rec-cache"))
    runs = tmp_path_factory.mktemp("rec-runs")
    spec = Recommenders.load_spec(None, SMALL)
    return run_experiment(spec, cache=cache, runs_dir=runs, log=lambda m: None), cache


def test_rows_metrics_sequences_and_schema(run) -> None:
    import jsonschema

    result, _ = run
    data = load_results(result.run_dir)
    assert data["family"] == "recommender"
    assert [r["label"] for r in data["rows"]] == [
        "target",
        "oracle",
        "rec_retrain",
        "reverse_bpr",
        "sharded_retrain",
    ]
    rows = {r["label"]: r for r in data["rows"]}
    # retraining follows the spec's recipe (train.epochs=15): it is the oracle, timed
    assert rows["rec_retrain"]["config"]["epochs"] == 15
    assert rows["rec_retrain"]["metrics"] == rows["oracle"]["metrics"]
    assert rows["sharded_retrain"]["config"]["epochs"] == 5  # its own config wins
    assert rows["target"]["metrics"]["mi/bf"] == pytest.approx(1.0)
    assert rows["oracle"]["metrics"]["forget/rank_gap"] == 0.0
    eff = rows["sharded_retrain"]["efficiency"]
    assert eff["setup_time_s"] > 0 and eff["speedup"] > 0
    assert rows["reverse_bpr"]["config"]["epochs"] == 10
    # sequential: two requests, the second with everything requested so far
    seq = rows["reverse_bpr"]["sequence"]
    assert [h["request"] for h in seq] == [1, 2]
    assert seq[1]["forgotten_so_far"] > seq[0]["forgotten_so_far"]
    assert rows["oracle"]["sequence"][0]["oracle_forget_rank_pct"] == pytest.approx(
        rows["oracle"]["sequence"][0]["forget_rank_pct"]
    )
    assert rows["target"]["sequence"] is None
    # the audit: every model, every attack; the exact method keeps the oracle's level
    for row in data["rows"]:
        assert set(row["audit"]) == {
            "forget",
            "int4",
            "noise 0.01",
            "relearn@0",
            "relearn@4",
            "relearn@16",
        }
    assert rows["target"]["audit"]["forget"] > rows["oracle"]["audit"]["forget"]
    ref = resources.files("unlearnkit.runner") / "schemas" / "run_results.schema.json"
    jsonschema.validate(data, json.loads(ref.read_text()))
    report = json.loads((result.run_dir / rows["oracle"]["report"]).read_text())
    assert "interaction_mia" in report["results"]["mia"]


def test_cached_models_leaderboard_and_report(run, tmp_path) -> None:
    _, cache = run
    spec = Recommenders.load_spec(None, SMALL)
    again = run_experiment(spec, cache=cache, runs_dir=tmp_path, log=lambda m: None)
    # every step (target, oracle, unlearning, evaluations, audits, sequences) is reused
    assert again.built and not any(again.built.values()), again.built
    lines = leaderboard(load_results(again.run_dir))
    assert "forget rank pct" in lines[0]["columns"] and "MI-NG" in lines[0]["columns"]
    assert "sharded_retrain" in to_markdown(lines)
    page = write_report(again.run_dir).read_text()
    for figure in ("frontier", "mia_roc", "sequence", "cost"):
        assert f'id="{figure}"' in page and "no data in this run" not in page
    assert "interaction world" in page
    assert 'id="audit"' in page and "top-K hits of the removed interactions" in page


def test_specs_and_errors(tmp_path) -> None:
    assert spec_kind("recommender") == "recommender" and spec_kind("demo") == "lm"
    path = tmp_path / "rec.yaml"
    path.write_text("kind: recommender\nname: mine\nrequest: items\n")
    assert spec_kind(path) == "recommender"
    spec = Recommenders.load_spec(path, ["model.arch=lightgcn", "world=test"])
    assert spec.name == "mine" and spec.request == "items" and spec.model.arch == "lightgcn"
    with pytest.raises(ConfigError, match="a method of the recommender family"):
        Recommenders.load_spec(None, ["methods=[{name: npo}]"])
    with pytest.raises(ConfigError, match="request"):
        Recommenders.load_spec(None, ["request=people"])
    with pytest.raises(ConfigError, match="sequential"):
        Recommenders.load_spec(None, ["sequential=1"])
    too_many = Recommenders.load_spec(None, ["world=test", "sequential=1000"])
    with pytest.raises(ConfigError, match="sequential = 1000"):
        run_experiment(
            too_many, cache=Cache(tmp_path / "c"), runs_dir=tmp_path / "r", log=lambda m: None
        )


def test_sequential_parts_cover_the_request() -> None:
    from unlearnkit.data.world.interactions import generate_interactions, interaction_preset

    world = generate_interactions(interaction_preset("test"))
    for kind in ("interactions", "users", "items"):
        parts = sequential_parts(world, kind, 3, seed=0)
        assert len(parts) == 3
        total = sum(p.astype(int) for p in parts)
        assert total.max() == 1 and (total.astype(bool) == world.request(kind)).all()
    with pytest.raises(ValueError, match="sequential requests"):
        sequential_parts(world, "users", 10, seed=0)


def test_cli_runs_the_recommender(tmp_path) -> None:
    out = CliRunner().invoke(
        app,
        [
            "run",
            "recommender",
            "-s",
            "world=test",
            "-s",
            "methods=[{name: rec_finetune}]",
            "--runs",
            str(tmp_path / "runs"),
            "--cache",
            str(tmp_path / "cache"),
            "--no-report",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "rec_finetune" in out.output and "recommender" in out.output


def _ratings_file(path):
    """A MovieLens ``::`` file of the test world's interactions (rating 5) plus low ratings
    (2, not interactions) and one user with only low ratings (dropped)."""
    from unlearnkit.data.world.interactions import generate_interactions, interaction_preset

    world = generate_interactions(interaction_preset("test"))
    lines = [
        f"u{u}::m{i}::5::{1000 + t}"
        for u, i, t in zip(world.user, world.item, world.timestamp, strict=True)
    ]
    seen = set(zip(world.user.tolist(), world.item.tolist(), strict=True))
    low = [(u, i) for u in range(0, 60, 7) for i in range(50) if (u, i) not in seen][:20]
    lines += [f"u{u}::m{i}::2::5" for u, i in low]
    lines.append("lonely::m0::1::7")
    path.write_text("\n".join(lines) + "\n")
    return world


def test_a_movielens_file_runs_through_the_same_protocol(tmp_path) -> None:
    world = _ratings_file(tmp_path / "ratings.dat")
    spec = Recommenders.load_spec(
        None,
        [
            f"data={tmp_path / 'ratings.dat'}",
            "world=test",
            "request=items",
            "train.epochs=10",
            "methods=[{name: rec_finetune}]",
        ],
    )
    result = run_experiment(
        spec, cache=Cache(tmp_path / "cache"), runs_dir=tmp_path / "runs", log=lambda m: None
    )
    data = load_results(result.run_dir)
    assert data["spec"]["data"].endswith("ratings.dat")
    rows = {r["label"]: r for r in data["rows"]}
    assert set(rows) == {"target", "oracle", "rec_finetune"}
    # the same interactions as the synthetic world: the dropped user and low ratings are gone
    from unlearnkit.data.interactions import load_movielens
    from unlearnkit.data.world.interactions import world_from_interactions

    loaded = load_movielens(tmp_path / "ratings.dat", drop_empty_users=True)
    plain = world_from_interactions(loaded, spec.world, reference_fraction=0.0)
    assert len(plain.user) == len(world.user) and plain.n_users == 60
    assert (plain.split == "train").sum() == (world.split == "train").sum()
    # the run held 10% of the training period out as the membership reference
    real = world_from_interactions(loaded, spec.world, reference_fraction=spec.reference_fraction)
    assert spec.reference_fraction == 0.1 and data["spec"]["reference_fraction"] == 0.1
    n_ref = int(real.mask("reference").sum())
    assert n_ref == pytest.approx(0.1 * (world.split == "train").sum(), abs=2)
    assert real.request("items").sum() > 0
    report = json.loads((result.run_dir / rows["oracle"]["report"]).read_text())
    ids = report["results"]["mia"]["interaction_mia"]["ids"]
    nonmembers = {x.split(":", 1)[1] for x in ids if x.startswith("nonmember:")}
    reference = {f"u{u}:i{i}" for u, i in real.pairs(real.mask("reference")).tolist()}
    assert nonmembers and nonmembers <= reference  # compared with the reference sample
    assert "ratings.dat" in write_report(result.run_dir).read_text()
    with pytest.raises(ConfigError, match="ratings file"):
        Recommenders.load_spec(None, [f"data={tmp_path / 'missing.dat'}"])


def test_a_generated_drifting_ratings_file_runs_through_the_cli(tmp_path) -> None:
    """A MovieLens ``u.data`` file with timestamps and drifting preferences (the generated
    one) runs end to end: ``unlearnkit run recommender -s data=FILE``; the membership
    attack's non-members are the time-matched reference sample, and gradient ascent takes
    its steps by the request's share of the training set."""
    from unlearnkit.data.interactions import load_movielens
    from unlearnkit.data.world.interactions import world_from_interactions
    from unlearnkit.data.world.ratings import generate_ratings, ratings_preset
    from unlearnkit.methods.recommender.base import share_batch_count

    path = generate_ratings(ratings_preset("test")).write(tmp_path / "u.data")
    out = CliRunner().invoke(
        app,
        [
            "run",
            "recommender",
            "-s",
            f"data={path}",
            "-s",
            "world=test",
            "-s",
            "train.epochs=10",
            "-s",
            "methods=[{name: rec_grad_ascent}, {name: reverse_bpr}]",
            "--runs",
            str(tmp_path / "runs"),
            "--cache",
            str(tmp_path / "cache"),
            "--no-report",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "held out as the membership reference" in " ".join(out.output.split())
    (results,) = (tmp_path / "runs").rglob("results.json")
    data = load_results(results.parent)
    rows = {r["label"]: r for r in data["rows"]}
    assert set(rows) == {"target", "oracle", "rec_grad_ascent", "reverse_bpr"}
    assert data["spec"]["data"] == str(path) and data["spec"]["reference_fraction"] == 0.1
    world = world_from_interactions(
        load_movielens(path, drop_empty_users=True),
        Recommenders.load_spec(None, ["world=test"]).world,
    )
    forget = int(world.request("interactions").sum())
    n_train = int(world.mask("train").sum())
    per_epoch = share_batch_count(forget, n_train, 0.025)
    assert rows["rec_grad_ascent"]["efficiency"]["steps"] == 5 * per_epoch
    assert rows["reverse_bpr"]["efficiency"]["steps"] == 10 * per_epoch
    report = json.loads((results.parent / rows["oracle"]["report"]).read_text())
    ids = report["results"]["mia"]["interaction_mia"]["ids"]
    nonmembers = {x.split(":", 1)[1] for x in ids if x.startswith("nonmember:")}
    reference = {f"u{u}:i{i}" for u, i in world.pairs(world.mask("reference")).tolist()}
    assert nonmembers == reference  # an interactions request: every reference pair
    for row in rows.values():
        assert 0.0 <= row["metrics"]["mia/auc"] <= 1.0


def test_compare_lists_recommender_runs(run) -> None:
    result, _ = run
    runs_dir = result.run_dir.parent.parent
    out = CliRunner().invoke(app, ["compare", "--runs", str(runs_dir)], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "MI-NG" in out.output and "sharded_retrain" in out.output
