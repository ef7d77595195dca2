"""Tuning: grid, random and Optuna search, objectives, pruning; results recomputed independently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.config import TuningConfig
from movierec.engines.base import ALSParams
from movierec.engines.spark_als import SparkEngine
from movierec.schema import ITEM, RATING, USER
from movierec.split import kfold
from movierec.tuning import grid_search, tune


@pytest.mark.spark
@pytest.mark.slow
def test_grid_search_on_real_data(spark: Any, ml_small: Path) -> None:
    ratings = pd.read_csv(ml_small / "ratings.csv").rename(
        columns={"userId": USER, "movieId": ITEM}
    )
    ratings = ratings.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})
    engine = SparkEngine(spark)
    cfg = TuningConfig(
        models=["als"],
        ranks=[4, 8],
        reg_params=[0.1],
        max_iters=[5],
        folds=2,
        parallelism=2,
        prune=False,  # every configuration on every fold (pruning is tested on the local engine)
    )
    base = ALSParams(seed=11)
    calls: list[tuple[int, int]] = []
    result = grid_search(
        engine, ratings, cfg, base, seed=5, progress=lambda d, t, _: calls.append((d, t))
    )

    assert result.grid == {"model": ["als"], "rank": [4, 8], "regParam": [0.1], "maxIter": [5]}
    assert [c[0] for c in calls] == [1, 2, 3, 4] and {c[1] for c in calls} == {4}
    assert len(result.results) == 2
    means = [r["rmse_mean"] for r in result.results]
    assert means == sorted(means)
    lowest = min(result.results, key=lambda r: float(np.mean(r["fold_rmse"])))
    assert (result.best["rank"], result.best["rmse_mean"]) == (lowest["rank"], lowest["rmse_mean"])
    assert result.best_params(base).model == "als"
    for row in result.results:
        assert len(row["fold_rmse"]) == 2
        assert row["rmse_mean"] == pytest.approx(np.mean(row["fold_rmse"]))
        assert row["rmse_std"] == pytest.approx(np.std(row["fold_rmse"]))
        assert 0.7 < row["rmse_mean"] < 1.2

    # Recompute one fold's RMSE independently: same fold, same params, numpy RMSE.
    train, valid = kfold(ratings, 2, seed=5)[1]
    handle = engine.data(train)
    try:
        model = engine.fit(handle, ALSParams(rank=8, reg_param=0.1, max_iter=5, seed=11))
        pred = model.predict(valid)
    finally:
        handle.release()
    ok = ~np.isnan(pred)
    pred = np.clip(pred, train[RATING].min(), train[RATING].max())  # scored clipped (default)
    rmse = float(np.sqrt(np.mean((pred[ok] - valid[RATING].to_numpy()[ok]) ** 2)))
    row8 = next(r for r in result.results if r["rank"] == 8)
    assert row8["fold_rmse"][1] == pytest.approx(rmse, abs=1e-9)
    assert row8["cold_start_rows"] > 0  # some validation movies are unseen in training


def test_a_failing_fit_stops_the_search() -> None:
    """One failing fit ends the search at once: queued fits are cancelled, data released."""
    import threading

    import pandas as pd

    from movierec.engines.base import Engine, EngineData, TrainedModel

    class Handle(EngineData):
        released = 0

        def __init__(self, ratings: pd.DataFrame) -> None:
            self._r = ratings

        @property
        def ratings(self) -> pd.DataFrame:
            return self._r

        def release(self) -> None:
            Handle.released += 1

    class Failing(Engine):
        name = "failing"
        calls = 0
        lock = threading.Lock()

        def data(self, ratings: pd.DataFrame) -> EngineData:
            return Handle(ratings)

        def fit(self, train: EngineData, params: ALSParams) -> TrainedModel:
            import time

            with self.lock:
                Failing.calls += 1
            time.sleep(0.05)
            raise RuntimeError("executor lost")

        def load(self, path: Path, params: ALSParams) -> TrainedModel:
            raise AssertionError

        def aggregates(self, data: EngineData) -> Any:
            raise AssertionError

    rng = np.random.default_rng(0)
    ratings = pd.DataFrame(
        {USER: rng.integers(0, 50, 2000), ITEM: rng.integers(0, 80, 2000), RATING: 3.0}
    ).drop_duplicates([USER, ITEM])
    cfg = TuningConfig(models=["als"], ranks=[2, 4, 6, 8], reg_params=[0.1, 0.2], max_iters=[3, 5])
    with pytest.raises(RuntimeError, match="executor lost"):
        grid_search(Failing(), ratings, cfg, ALSParams(), seed=1)
    # 16 fits were queued for the first fold; only the ones already running (2 workers, plus
    # at most one picked up while the first failure propagates, per worker) ever started.
    assert Failing.calls <= 2 * cfg.parallelism
    assert Handle.released >= 1


# --------------------------------------------------------------------------- local engine


@pytest.fixture(scope="module")
def small_ratings(ml_small: Path) -> pd.DataFrame:
    """The ratings of ml-latest-small's first 150 users (about 20k ratings): fast local fits."""
    r = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    r = r.loc[r[USER] <= 150, [USER, ITEM, RATING]]
    return r.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64}).reset_index(drop=True)


def _local() -> Any:
    from movierec.engines.local_als import LocalEngine

    return LocalEngine()


def _config_keys(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("model", "rank", "regParam", "maxIter", "biasReg", "alpha")
    return [tuple(r.get(k) for k in keys) for r in sorted(rows, key=lambda r: r["trial"])]


def test_random_candidates_are_seeded_and_within_ranges() -> None:
    from movierec.search import random_candidates

    cfg = TuningConfig(
        search="random",
        trials=40,
        models=["als", "biased-als", "implicit-als"],
        objective="ndcg@10",
        rank_range=[5, 9],
        reg_range=[0.01, 1.0],
        max_iters=[3, 7],
        bias_reg_range=[2.0, 4.0],
        alpha_range=[0.5, 8.0],
    )
    a, b, other = random_candidates(cfg, 3), random_candidates(cfg, 3), random_candidates(cfg, 4)
    assert a == b and a != other and len(a) == 40
    assert {c.model for c in a} == {"als", "biased-als", "implicit-als"}
    assert all(5 <= c.rank <= 9 and c.max_iter in (3, 7) for c in a)
    assert all(0.01 <= c.reg_param <= 1.0 for c in a)
    assert all((c.bias_reg is not None) == (c.model == "biased-als") for c in a)
    assert all((c.alpha is not None) == (c.model == "implicit-als") for c in a)
    assert all(2.0 <= c.bias_reg <= 4.0 for c in a if c.bias_reg is not None)
    # log-uniform: about as many draws below the geometric midpoint (0.1) as above it
    below = sum(
        c.reg_param < 0.1 for c in random_candidates(cfg.model_copy(update={"trials": 400}), 1)
    )
    assert 150 < below < 250


@pytest.mark.parametrize("search", ["random", "optuna"])
def test_seeded_search_gives_the_same_trials_twice(
    small_ratings: pd.DataFrame, search: str
) -> None:
    cfg = TuningConfig.model_validate(
        dict(
            search=search,
            trials=4,
            models=["als", "biased-als"],
            rank_range=[2, 8],
            reg_range=[0.05, 0.5],
            max_iters=[3],
            folds=2,
            prune=False,
        )
    )
    base = ALSParams(seed=3)
    first = grid_search(_local(), small_ratings, cfg, base, seed=9)
    second = grid_search(_local(), small_ratings, cfg, base, seed=9)
    assert first.search == search and len(first.results) == 4
    assert _config_keys(first.results) == _config_keys(second.results)
    assert [r["fold_rmse"] for r in first.results] == [r["fold_rmse"] for r in second.results]
    assert first.best == second.best
    other = grid_search(_local(), small_ratings, cfg, base, seed=10)
    assert _config_keys(other.results) != _config_keys(first.results)
    for r in first.results:
        assert r["status"] == "complete" and len(r["fold_rmse"]) == 2
        assert r["rmse_mean"] == pytest.approx(np.mean(r["fold_rmse"]))
    lowest = min(first.results, key=lambda r: float(np.mean(r["fold_rmse"])))
    assert first.best["rmse_mean"] == lowest["rmse_mean"]


@pytest.mark.parametrize("search", ["random", "optuna"])
def test_start_configurations_are_tried_first(small_ratings: pd.DataFrame, search: str) -> None:
    cfg = TuningConfig.model_validate(
        dict(search=search, trials=3, models=["als", "biased-als"], max_iters=[3, 4], folds=2)
    )
    start = [
        ALSParams(model="biased-als", rank=5, reg_param=0.123, max_iter=4, bias_reg=7.0),
        ALSParams(model="implicit-als", rank=5),  # not searched: skipped
    ]
    result = grid_search(_local(), small_ratings, cfg, ALSParams(seed=1), seed=2)
    started = tune(_local(), small_ratings, cfg, ALSParams(seed=1), 2, start=start)
    first = next(r for r in started.results if r["trial"] == 1)
    assert (first["model"], first["rank"], first["regParam"], first["maxIter"]) == (
        "biased-als", 5, 0.123, 4,
    )  # fmt: skip
    assert first["biasReg"] == 7.0 and len(started.results) == 3
    assert first["fold_rmse"] != [] and {r["model"] for r in started.results} <= {
        "als",
        "biased-als",
    }
    assert _config_keys(result.results)[0] != _config_keys(started.results)[0]


def test_a_hopeless_configuration_is_pruned_after_the_first_fold(
    small_ratings: pd.DataFrame,
) -> None:
    # regParam 50 shrinks every factor to ~0: predictions ~0 stars, RMSE ~3.7 vs ~1.0.
    cfg = TuningConfig(models=["als"], ranks=[4], reg_params=[0.1, 50.0], max_iters=[5], folds=3)
    calls: list[tuple[int, int]] = []
    result = grid_search(
        _local(), small_ratings, cfg, ALSParams(seed=1), 2, lambda d, t, _: calls.append((d, t))
    )
    rows = {r["regParam"]: r for r in result.results}
    hopeless, good = rows[50.0], rows[0.1]
    assert hopeless["status"] == "pruned" and hopeless["folds_run"] == 1
    assert len(hopeless["fold_rmse"]) == 1 and hopeless["fold_rmse"][0] > 3.0
    assert good["status"] == "complete" and len(good["fold_rmse"]) == 3
    assert result.best["regParam"] == 0.1 and result.results[0] is good
    assert result.to_dict()["pruned"] == 1
    # 4 fits ran (2 on fold 1, 1 on each later fold); the bar is completed at the end.
    assert [c[0] for c in calls] == [1, 2, 3, 4, 6] and {c[1] for c in calls} == {6}

    # Without pruning both run every fold, and the hopeless one's first fold is the same.
    full = grid_search(
        _local(), small_ratings, cfg.model_copy(update={"prune": False}), ALSParams(seed=1), 2
    )
    rows_full = {r["regParam"]: r for r in full.results}
    assert all(r["status"] == "complete" for r in full.results)
    assert rows_full[50.0]["fold_rmse"][0] == pytest.approx(hopeless["fold_rmse"][0])
    assert rows_full[0.1]["fold_rmse"] == pytest.approx(good["fold_rmse"])


def test_optuna_margin_pruner_compares_with_completed_trials_at_the_same_fold() -> None:
    import optuna  # in the dev extra, so CI always has it

    from movierec.search import margin_pruner

    for lower, ref, worse, close in ((True, 0.90, 0.93, 0.91), (False, 0.40, 0.35, 0.395)):
        study = optuna.create_study(
            direction="minimize" if lower else "maximize", pruner=margin_pruner(0.02, lower)
        )
        t0 = study.ask()
        t0.report(worse, 0)
        assert not t0.should_prune()  # nothing completed yet
        study.tell(t0, state=optuna.trial.TrialState.PRUNED)
        done = study.ask()
        done.report(ref, 0)
        study.tell(done, ref)
        bad = study.ask()
        bad.report(worse, 0)
        assert bad.should_prune()
        ok = study.ask()
        ok.report(close, 0)
        assert not ok.should_prune()


def test_optuna_search_records_pruned_trials(small_ratings: pd.DataFrame) -> None:
    cfg = TuningConfig(
        search="optuna",
        trials=6,
        models=["als"],
        rank_range=[2, 6],
        reg_range=[0.05, 200.0],  # the top of the range cannot fit: those trials get pruned
        max_iters=[3],
        folds=3,
    )
    result = grid_search(_local(), small_ratings, cfg, ALSParams(seed=2), seed=0)
    done = [r for r in result.results if r["status"] == "complete"]
    pruned = [r for r in result.results if r["status"] == "pruned"]
    assert done and pruned and len(done) + len(pruned) == 6
    assert all(len(r["fold_rmse"]) == r["folds_run"] == 3 for r in done)
    assert all(1 <= len(r["fold_rmse"]) == r["folds_run"] < 3 for r in pruned)
    for r in pruned:  # worse by > 2% than an earlier completed trial over the same folds
        n = r["folds_run"]
        earlier = [np.mean(d["fold_rmse"][:n]) for d in done if d["trial"] < r["trial"]]
        assert np.mean(r["fold_rmse"]) > 1.02 * min(earlier)
    assert result.best["rmse_mean"] == min(r["rmse_mean"] for r in done)


def _ndcg_at_k(recs: pd.DataFrame, valid: pd.DataFrame, k: int, threshold: float) -> float:
    """NDCG@k written out loop by loop (independent of movierec.metrics)."""
    relevant: dict[int, set[int]] = {}
    for u, i, r in valid[[USER, ITEM, RATING]].itertuples(index=False):
        if r >= threshold:
            relevant.setdefault(int(u), set()).add(int(i))
    lists: dict[int, list[tuple[int, int]]] = {}
    for u, i, rank in recs[[USER, ITEM, "rank"]].itertuples(index=False):
        lists.setdefault(int(u), []).append((int(rank), int(i)))
    total = 0.0
    for u, rel in relevant.items():
        ranked = [i for _, i in sorted(lists.get(u, []))][:k]
        dcg = sum(1.0 / np.log2(p + 2) for p, i in enumerate(ranked) if i in rel)
        idcg = sum(1.0 / np.log2(p + 2) for p in range(min(len(rel), k)))
        total += dcg / idcg
    return total / len(relevant)


def test_ranking_objective_picks_the_configuration_with_the_highest_ndcg(
    small_ratings: pd.DataFrame,
) -> None:
    cfg = TuningConfig(
        models=["als", "implicit-als"],
        ranks=[4, 16],
        reg_params=[0.1],
        max_iters=[5],
        folds=2,
        objective="ndcg@10",
        prune=False,
    )
    base = ALSParams(seed=4, alpha=2.0)
    engine = _local()
    result = grid_search(engine, small_ratings, cfg, base, seed=6)
    assert result.objective == "ndcg@10" and len(result.results) == 4
    folds = kfold(small_ratings, 2, seed=6)
    recomputed = {}
    for row in result.results:
        params = ALSParams(
            seed=4, alpha=2.0, model=row["model"], rank=row["rank"], reg_param=0.1, max_iter=5
        )
        values = []
        for train, valid in folds:
            handle = engine.data(train)
            model = engine.fit(handle, params)
            recs = model.recommend(np.unique(valid[USER].to_numpy()), 10, exclude=handle)
            seen = set(zip(train[USER], train[ITEM], strict=True))
            assert not any((u, i) in seen for u, i in zip(recs[USER], recs[ITEM], strict=True))
            values.append(_ndcg_at_k(recs, valid, 10, 3.0))
        recomputed[(row["model"], row["rank"])] = float(np.mean(values))
        assert row["fold_ndcg"] == pytest.approx(values, abs=1e-12)
        assert row["ndcg_mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert (row["rmse_mean"] is None) == (row["model"] == "implicit-als")
    top = max(recomputed, key=lambda key: recomputed[key])
    assert (result.best["model"], result.best["rank"]) == top
    assert result.best["ndcg_mean"] == pytest.approx(max(recomputed.values()))
    # implicit ALS ranks far better than explicit ALS here, as on the whole data set
    assert result.best["model"] == "implicit-als"
    assert result.best_params(base).alpha == 2.0


def test_implicit_als_with_an_rmse_objective_is_a_config_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ndcg@K or recall@K"):
        TuningConfig(models=["implicit-als"])
    with pytest.raises(ValidationError, match="objective"):
        TuningConfig(objective="precision@10")
    assert TuningConfig(objective="NDCG@5").ranking == ("ndcg", 5)


def test_tune_and_run_commands_with_random_search_and_a_ranking_objective(
    tmp_path: Path, small_ratings: pd.DataFrame
) -> None:
    import json

    from click.testing import CliRunner

    from movierec.cli import cli

    data = tmp_path / "ratings.csv"
    small_ratings.to_csv(data, index=False)
    common = ["--data", str(data), "--engine", "local", "--seed", "3", "-q", "--folds", "2"]
    search = ["--search", "random", "--trials", "3", "--models", "als,implicit-als",
              "--objective", "ndcg@10", "--rank-range", "4,12", "--max-iters", "4",
              "--interactions", "all"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(cli, ["tune", *common, *search, "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    tuning = json.loads((tmp_path / "t" / "tuning.json").read_text())
    assert (tmp_path / "t" / "tuning_trials.png").stat().st_size > 1000
    assert tuning["search"] == "random" and tuning["objective"] == "ndcg@10"
    assert len(tuning["results"]) == 3
    done = [r for r in tuning["results"] if r["status"] == "complete"]
    assert tuning["best"]["ndcg_mean"] == max(r["ndcg_mean"] for r in done)

    out = tmp_path / "run"
    args = ["run", *common, *search, "--train-fractions", "0.8", "--out", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tuning"]["results"] == json.loads(json.dumps(tuning["results"]))
    assert summary["config"]["interactions"]["mode"] == "all"
    refit = summary["tuning"]["refit"]
    # the rating model is the lowest-RMSE explicit configuration (here pruned by NDCG, so over
    # the folds it ran); the recommender's implicit candidate is the tuned implicit one
    explicit = [r for r in tuning["results"] if r["model"] == "als"]
    implicit = [r for r in done if r["model"] == "implicit-als"]
    assert explicit and implicit and tuning["best"]["model"] == "implicit-als"
    low = min(explicit, key=lambda r: r["rmse_mean"])
    assert refit["rating_model"]["rank"] == low["rank"] and not refit["is_tuning_best"]
    assert summary["holdout"]["best_params"]["reg_param"] == low["regParam"]
    cand = summary["recommendations"]["candidates"]["implicit-als"]
    assert (cand["rank"], cand["alpha"]) == (implicit[0]["rank"], implicit[0]["alpha"])

    bad = runner.invoke(cli, ["tune", *common, "--models", "implicit-als"])
    assert bad.exit_code == 2 and "ndcg@K or recall@K" in bad.output


@pytest.mark.spark
@pytest.mark.slow
def test_ranking_objective_on_spark_matches_the_local_engine(
    spark: Any, small_ratings: pd.DataFrame
) -> None:
    """The same folds and interactions on both engines: NDCG@10 per fold within 0.03."""
    cfg = TuningConfig(
        models=["implicit-als"], ranks=[8], reg_params=[0.1], max_iters=[8], folds=2,
        objective="ndcg@10",
    )  # fmt: skip
    base = ALSParams(seed=7, alpha=1.0)
    spec = ("threshold", 3.5)
    on_spark = tune(SparkEngine(spark), small_ratings, cfg, base, 1, interactions=spec)
    local = tune(_local(), small_ratings, cfg, base, 1, interactions=spec)
    s, loc = on_spark.results[0], local.results[0]
    assert s["status"] == "complete" and len(s["fold_ndcg"]) == 2
    assert all(0.05 < v < 1.0 for v in s["fold_ndcg"])
    np.testing.assert_allclose(s["fold_ndcg"], loc["fold_ndcg"], atol=0.03)
