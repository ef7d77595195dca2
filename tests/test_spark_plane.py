"""The engine contract's data plane on both engines: same tables in, same numbers out.

Every data-plane method of :class:`~movierec.engines.base.EngineData` is run on the local
engine (pandas, the reference) and on the Spark engine (DataFrame jobs) from the same input,
and the results are compared; the Spark pipeline is checked against the local one on the
same split, and for what it moves to the driver.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.engines.base import ALSParams, Catalog, EngineData
from movierec.engines.clipping import fit_clipped
from movierec.engines.local_als import LocalEngine
from movierec.schema import ITEM, PREDICTION, RANK, RATING, USER

pytestmark = pytest.mark.spark

PARAMS = ALSParams(rank=6, reg_param=0.1, max_iter=5, seed=3)


@pytest.fixture(scope="module")
def ratings(ml_small: Path) -> pd.DataFrame:
    """ml-latest-small's first 120 users (about 15k ratings), with timestamps."""
    r = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    r = r.loc[r[USER] <= 120].reset_index(drop=True)
    return r.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})


@pytest.fixture(scope="module")
def movies(ml_small: Path) -> pd.DataFrame:
    m = pd.read_csv(ml_small / "movies.csv").rename(columns={"movieId": ITEM})
    return m.astype({ITEM: np.int32})


@pytest.fixture(scope="module")
def spark_engine(spark: Any) -> Any:
    from movierec.engines.spark_als import SparkEngine

    return SparkEngine(spark)


@pytest.fixture(scope="module")
def engines(spark_engine: Any) -> dict[str, Any]:
    return {"local": LocalEngine(), "spark": spark_engine}


def rows(table: EngineData, by: list[str]) -> pd.DataFrame:
    """A table's rows in a canonical order (for comparing engines)."""
    frame = table.ratings
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


def test_counts_stats_and_aggregates_agree(engines: dict[str, Any], ratings: pd.DataFrame) -> None:
    out = {}
    for name, engine in engines.items():
        with engine.data(ratings) as table:
            out[name] = (table.count(), table.stats(), table.aggregates())
    (n_l, s_l, a_l), (n_s, s_s, a_s) = out["local"], out["spark"]
    assert n_l == n_s == len(ratings)
    assert s_l == s_s
    assert s_l.users == ratings[USER].nunique() and s_l.rating_max == ratings[RATING].max()
    for mine, theirs in zip(a_l, a_s, strict=True):
        pd.testing.assert_series_equal(
            mine.sort_index(), theirs.sort_index(), check_names=False, check_index_type=False
        )


@pytest.mark.parametrize("method", ["random", "per-user", "time", "leave-last"])
def test_splits_put_the_same_rows_on_the_same_side(
    engines: dict[str, Any], ratings: pd.DataFrame, method: str
) -> None:
    sides = {}
    for name, engine in engines.items():
        with engine.data(ratings) as table:
            dev, test = table.holdout_split(method, 0.2, 7, time_cut=None, leave_last=2)
            with dev, test:
                sides[name] = (rows(dev, [USER, ITEM]), rows(test, [USER, ITEM]))
    for mine, theirs in zip(sides["local"], sides["spark"], strict=True):
        pd.testing.assert_frame_equal(
            mine[[USER, ITEM, RATING]], theirs[[USER, ITEM, RATING]], check_dtype=False
        )


def test_kfold_and_fraction_splits_agree(engines: dict[str, Any], ratings: pd.DataFrame) -> None:
    got: dict[str, list[pd.DataFrame]] = {}
    for name, engine in engines.items():
        with engine.data(ratings) as table:
            frames = []
            for train, valid in table.kfold(3, 5):
                with train, valid:
                    frames.append(rows(valid, [USER, ITEM])[[USER, ITEM]])
            for _, train, test in table.train_fraction_splits([0.6, 0.8], 5):
                with train, test:
                    frames.append(rows(train, [USER, ITEM])[[USER, ITEM]])
            got[name] = frames
    assert len(got["local"]) == 5
    for mine, theirs in zip(got["local"], got["spark"], strict=True):
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)


def test_predict_and_recommend_tables_equal_the_pandas_methods(
    spark_engine: Any, ratings: pd.DataFrame
) -> None:
    """On Spark, predict_table/recommend_table (kept on the cluster) give what predict and
    recommend (collected) give, clipping included."""
    with spark_engine.data(ratings) as all_rows:
        train, test = all_rows.random_split(0.2, 11)
        with train, test, fit_clipped(spark_engine, train, PARAMS) as model:
            expected = model.predict(test.ratings)
            with model.predict_table(test) as scored:
                got = scored.ratings
            merged = test.ratings.assign(_expected=expected).merge(got, on=[USER, ITEM])
            assert len(merged) == test.count()
            np.testing.assert_allclose(merged[PREDICTION], merged["_expected"], rtol=1e-6)
            lo, hi = train.stats().rating_min, train.stats().rating_max
            known = merged[PREDICTION].dropna()
            assert known.between(lo, hi).all() and merged[PREDICTION].isna().any()
            users = np.unique(test.ratings[USER].to_numpy())
            with model.recommend_table(test, 5, exclude=train) as recs:
                table = rows(recs, [USER, RANK])
            pd.testing.assert_frame_equal(
                table[[USER, ITEM, RANK]],
                model.recommend(users, 5, exclude=train)[[USER, ITEM, RANK]],
                check_dtype=False,
            )


def _scored(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, scored test with NaN rows, top-5 lists) from the local engine: fixed inputs
    for the metric comparisons."""
    engine = LocalEngine()
    with engine.data(ratings) as table:
        train, test = table.random_split(0.25, 3)
        with fit_clipped(engine, train, PARAMS) as model:
            scored = model.predict_table(test).ratings
            recs = model.recommend_table(test, 5, exclude=train).ratings
        return train.ratings, scored, recs


def test_metrics_agree_to_1e9(
    engines: dict[str, Any], ratings: pd.DataFrame, movies: pd.DataFrame
) -> None:
    train, scored, recs = _scored(ratings)
    out: dict[str, dict[str, Any]] = {}
    for name, engine in engines.items():
        with (
            engine.data(train) as tr,
            engine.data(scored) as sc,
            engine.data(recs) as rc,
            sc.predicted() as known,
        ):
            catalog = engine.catalog(movies)
            out[name] = {
                "holdout_rmse": sc.holdout_rmse(),
                "rating_errors": sc.rating_errors(),
                "prediction": known.prediction_metrics(5, 3.5),
                "catalogue": rc.catalogue_top_k(sc, 5, 3.5),
                "beyond": rc.beyond_accuracy(tr, catalog, 5),
                "cold": tr.cold_start_counts(sc),
            }
    assert out["local"]["holdout_rmse"][1] > 0  # some rows are cold start

    def close(a: Any, b: Any) -> None:
        if isinstance(a, dict):
            assert set(a) == set(b)
            for key in a:
                close(a[key], b[key])
        elif isinstance(a, (tuple, list)):
            for x, y in zip(a, b, strict=True):
                close(x, y)
        elif a is None or b is None:
            assert a is b
        else:
            assert float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-12)

    close(out["local"], out["spark"])


def test_baselines_agree(engines: dict[str, Any], ratings: pd.DataFrame) -> None:
    train, scored, _ = _scored(ratings)
    known = scored.dropna(subset=[PREDICTION]).reset_index(drop=True)
    got = {}
    for name, engine in engines.items():
        with engine.data(train) as tr, engine.data(known) as kn:
            metrics = {}
            for baseline in ("global_mean", "bias"):
                with tr.fit_baseline(baseline) as b, b.predict_table(kn) as p:
                    metrics[baseline] = p.rating_errors()
            with tr.fit_baseline("most_popular") as mp, mp.recommend_table(kn, 4, tr) as r:
                metrics["popular"] = rows(r, [USER, RANK])[[USER, ITEM, RANK]]
            got[name] = metrics
    for baseline in ("global_mean", "bias"):
        for key, value in got["local"][baseline].items():
            assert got["spark"][baseline][key] == pytest.approx(value, rel=1e-9)
    pd.testing.assert_frame_equal(
        got["local"]["popular"], got["spark"]["popular"], check_dtype=False
    )


def test_written_lists_are_the_same_rows(
    engines: dict[str, Any], ratings: pd.DataFrame, movies: pd.DataFrame, tmp_path: Path
) -> None:
    """Spark's executors write part-file folders; read back, they hold the local engine's
    file rows (titles joined, original ids mapped, sorted by user then rank)."""
    from movierec.lists import read_table

    _, _, recs = _scored(ratings)
    dense_users = np.unique(recs[USER].to_numpy())
    user_ids = np.array([f"u{u}" for u in range(int(dense_users.max()) + 1)], dtype=object)
    written = {}
    for name, engine in engines.items():
        folder = tmp_path / name
        folder.mkdir()
        with engine.data(recs) as table:
            info = table.write_recommendations(
                folder / "recommendations", engine.catalog(movies, user_ids)
            )
        written[name] = (info, folder)
    (info_l, local), (info_s, remote) = written["local"], written["spark"]
    assert info_l == info_s
    assert (local / "recommendations.parquet").is_file()
    assert (remote / "recommendations.parquet").is_dir()
    assert any((remote / "recommendations.parquet").glob("part-*.parquet"))
    for suffix in ("parquet", "csv"):
        mine = read_table(local / f"recommendations.{suffix}")
        theirs = read_table(remote / f"recommendations.{suffix}")
        assert mine[USER].iloc[0].startswith("u")
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)


def test_training_ratings_part_files_round_trip(
    spark_engine: Any, ratings: pd.DataFrame, tmp_path: Path
) -> None:
    with spark_engine.data(ratings) as table:
        table.write_ratings(tmp_path / "train.parquet")
        digest = table.fingerprint()
    with spark_engine.data(ratings.iloc[::-1].reset_index(drop=True)) as shuffled:
        assert shuffled.fingerprint() == digest  # row order does not matter
    with spark_engine.data(ratings.assign(**{RATING: ratings[RATING] + 0.5})) as changed:
        assert changed.fingerprint() != digest
    from movierec.lists import read_table

    back = read_table(tmp_path / "train.parquet")
    assert (np.diff(back[USER].to_numpy()) >= 0).all()  # parts in name order are sorted by user
    expected = ratings[[USER, ITEM, RATING]].sort_values([USER, ITEM]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    with spark_engine.read_table(tmp_path / "train.parquet") as again:
        assert again.count() == len(ratings) and again.fingerprint() == digest


def test_handles_release_their_cache(spark_engine: Any, ratings: pd.DataFrame) -> None:
    with spark_engine.data(ratings) as table:
        table.count()
        assert table.df.storageLevel.useMemory
        train, test = table.random_split(0.2, 1)
        with train, test:
            train.count()
            assert train.df.storageLevel.useMemory
        assert not train.df.storageLevel.useMemory
    assert not table.df.storageLevel.useMemory


@pytest.mark.slow
def test_evaluation_on_the_same_split_matches_the_local_engine(
    engines: dict[str, Any], ml_small: Path, movies: pd.DataFrame
) -> None:
    """The whole evaluate() on both engines from the same 80/20 split of ml-latest-small:
    RMSE within ALS's seed-to-seed noise (0.005; measured for these settings: local seeds
    1-3 spread 0.0013, local vs Spark at most 0.0016), baselines (deterministic) to 1e-9."""
    from movierec.evaluation import evaluate

    full = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    params = ALSParams(rank=10, reg_param=0.15, max_iter=10, seed=2, model="biased-als")
    results = {}
    for name, engine in engines.items():
        with engine.data(full.astype({USER: np.int32, ITEM: np.int32})) as table:
            dev, test = table.holdout_split("random", 0.2, 42)
            with dev, test, fit_clipped(engine, dev, params) as model:
                results[name] = evaluate(
                    model, dev, test, k=10, threshold=3.0, movies=engine.catalog(movies)
                )
    local, spark = results["local"], results["spark"]
    assert set(local) == set(spark)
    assert abs(local["rmse"] - spark["rmse"]) <= 0.005, (local["rmse"], spark["rmse"])
    assert local["coverage"] == spark["coverage"]
    for name in ("global_mean", "bias"):
        assert spark["baselines"][name]["rmse"] == pytest.approx(
            local["baselines"][name]["rmse"], rel=1e-9
        )
    assert spark["baselines"]["most_popular"]["catalogue_top_k"] == pytest.approx(
        local["baselines"]["most_popular"]["catalogue_top_k"], rel=1e-9
    )


def test_saved_spark_model_serves_from_part_files(
    spark_engine: Any, ratings: pd.DataFrame, movies: pd.DataFrame, tmp_path: Path
) -> None:
    """A model folder whose training ratings Spark wrote as part files: load_model_dir reads
    them, the HTTP service's scorer (no pyspark) excludes the seen movies from them."""
    from movierec.model_io import load_model_dir, save_model
    from movierec.service.scorer import Scorer

    with spark_engine.data(ratings) as table, fit_clipped(spark_engine, table, PARAMS) as model:
        target = save_model(model, tmp_path / "model", engine="spark", train=table, movies=movies)
        expected = model.recommend(np.array([1, 7]), 5, exclude=table)
    assert (target / "train_ratings.parquet").is_dir()
    assert not (target / "serving").exists()
    saved = load_model_dir(target)
    meta = json.loads((target / "model.json").read_text())
    assert meta["training_data"]["ratings"] == len(ratings)
    assert meta["training_data"]["fingerprint"].startswith("xxh64sum:")
    pd.testing.assert_frame_equal(
        saved.train.sort_values([USER, ITEM]).reset_index(drop=True),
        ratings[[USER, ITEM, RATING]].sort_values([USER, ITEM]).reset_index(drop=True),
        check_dtype=False,
    )
    scorer = Scorer.load(target)
    for user in (1, 7):
        seen = set(ratings.loc[ratings[USER] == user, ITEM].tolist())
        urow = int(np.searchsorted(scorer.user_ids, user))
        assert set(scorer.item_ids[scorer.seen_rows(urow)].tolist()) == seen
        mine = expected.loc[expected[USER] == user]
        assert not seen & set(mine[ITEM].tolist())
    np.testing.assert_allclose(np.sort(scorer.ratings), np.sort(ratings[RATING].to_numpy()), rtol=0)


def test_spark_catalog_collects_bounded_values(spark_engine: Any, movies: pd.DataFrame) -> None:
    ids = np.array(["a", "b", "c"], dtype=object)
    cat = spark_engine.catalog(movies, ids, None)
    fresh = type(cat)(spark_engine, cat.movies_df, cat.user_ids_df, None)
    assert fresh.user_ids.tolist() == ["a", "b", "c"] and fresh.item_ids is None
    assert len(fresh.movies) == len(movies)
    assert isinstance(spark_engine.spark_catalog(Catalog(movies)), type(cat))


# --- the whole pipeline on Spark, and what reaches the driver ----------------------------------


class DriverGuard:
    """Counts the rows of every ``toPandas``/``collect`` (to the driver) and every
    ``createDataFrame`` (from the driver) while it is installed, with the caller."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import traceback

        from pyspark.sql import DataFrame, SparkSession

        self.calls: list[tuple[str, int, str]] = []
        to_pandas, collect = DataFrame.toPandas, DataFrame.collect
        create = SparkSession.createDataFrame

        def where() -> str:
            frames = [f for f in traceback.extract_stack()[:-2] if "/movierec/" in f.filename]
            return " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[-3:][::-1])

        def patched_to_pandas(df: Any) -> Any:
            out = to_pandas(df)
            self.calls.append(("toPandas", len(out), where()))
            return out

        def patched_collect(df: Any) -> Any:
            out = collect(df)
            self.calls.append(("collect", len(out), where()))
            return out

        def patched_create(session: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
            n = len(data) if hasattr(data, "__len__") else -1
            self.calls.append(("createDataFrame", n, where()))
            return create(session, data, *args, **kwargs)

        monkeypatch.setattr(DataFrame, "toPandas", patched_to_pandas)
        monkeypatch.setattr(DataFrame, "collect", patched_collect)
        monkeypatch.setattr(SparkSession, "createDataFrame", patched_create)

    def over(self, bound: int) -> list[tuple[str, int, str]]:
        return [c for c in self.calls if c[1] > bound]


SYNTH = {"users": 300, "items": 600, "ratings": 60_000}
"""Dense enough that a test split (12k rows) is far above a bound proportional to users +
movies (4 × 900 + 1,000 = 4,600 rows)."""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from movierec.data.synth import save_synthetic, synthesize

    frame = synthesize(SYNTH["ratings"], n_users=SYNTH["users"], n_items=SYNTH["items"], seed=4)
    return save_synthetic(frame, tmp_path_factory.mktemp("synth") / "ratings.parquet")


@pytest.fixture(scope="module")
def spark_run(
    spark: Any, synthetic: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], DriverGuard]:
    """``movierec run`` on Spark (reduced grid) with the driver guard installed."""
    from movierec.config import build_config
    from movierec.pipeline import run

    cfg = build_config(
        overrides={
            "engine": "spark",
            "spark": {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "2g"},
            "data": {"path": str(synthetic)},
            "tuning": {
                "models": ["als", "biased-als"],
                "ranks": [4],
                "reg_params": [0.1],
                "max_iters": [3],
                "folds": 2,
            },
            "split": {"train_fractions": [0.8]},
            "recommend": {"recommender": "auto", "implicit_max_iter": 3, "implicit_rank": 4},
        }
    )
    out = tmp_path_factory.mktemp("spark-run") / "out"
    with pytest.MonkeyPatch.context() as mp:
        guard = DriverGuard(mp)
        summary = run(cfg, out)
    return out, summary, guard


def test_spark_run_writes_part_files_and_the_same_counts(
    spark_run: tuple[Path, dict[str, Any], DriverGuard], synthetic: Path
) -> None:
    from movierec.lists import read_table
    from movierec.model_io import load_model_dir

    out, summary, _ = spark_run
    frame = pd.read_parquet(synthetic)
    data = summary["data"]
    assert (data["ratings"], data["users"], data["items"]) == (
        len(frame),
        frame[USER].nunique(),
        frame[ITEM].nunique(),
    )
    assert summary["holdout"]["dev_ratings"] + summary["holdout"]["test_ratings"] == len(frame)
    for name in ("recommendations.parquet", "recommendations.csv"):
        assert (out / name).is_dir() and any((out / name).glob("part-*")), name
    recs = read_table(out / "recommendations.parquet")
    assert len(recs) == summary["recommendations"]["rows"] == SYNTH["users"] * 10
    assert recs[USER].nunique() == summary["recommendations"]["users"]
    csv = read_table(out / "recommendations.csv").fillna({"title": "", "genres": ""})
    pd.testing.assert_frame_equal(recs, csv, check_dtype=False)  # (no titles: empty text)
    seen = set(zip(frame[USER], frame[ITEM], strict=True))
    assert not any((u, m) in seen for u, m in zip(recs[USER], recs[ITEM], strict=True))
    assert (out / "model" / "train_ratings.parquet").is_dir()
    assert load_model_dir(out / "model").meta["training_data"]["ratings"] == len(frame)
    sample = summary["recommendations"]["sample"]
    assert len(sample) == 3 and all(len(s["recommendations"]) == 10 for s in sample)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"Recommended for user {sample[0]['user']}" in page


def test_no_rating_sized_data_reaches_the_driver(
    spark_run: tuple[Path, dict[str, Any], DriverGuard],
) -> None:
    """Nothing that grows with the number of ratings crosses between the driver and Spark:
    every toPandas/collect/createDataFrame during the run moves at most a bound that grows
    with users + movies (aggregates, factors, id maps, a few users' rows), not ratings."""
    _, _, guard = spark_run
    assert guard.calls, "the guard saw no driver transfer at all (is it installed?)"
    bound = 4 * (SYNTH["users"] + SYNTH["items"]) + 1_000
    offenders = guard.over(bound)
    assert not offenders, "\n".join(f"{kind} {n} rows at {at}" for kind, n, at in offenders)


# --- train, evaluate, recommend on Spark ------------------------------------------------------


@pytest.fixture(scope="module")
def string_ids(ml_small: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ml-latest-small's first 150 users with text user ids ("u1" …): a training file, and a
    test file with one user the training data does not have."""
    r = pd.read_csv(ml_small / "ratings.csv")
    r = r.loc[r["userId"] <= 150].copy()
    r["userId"] = "u" + r["userId"].astype(str)
    folder = tmp_path_factory.mktemp("strings")
    rng = np.random.default_rng(2)
    test_rows = rng.random(len(r)) < 0.2
    train, test = r.loc[~test_rows], r.loc[test_rows].copy()
    extra = test.iloc[:5].assign(userId="newcomer")
    pd.concat([train]).to_csv(folder / "train.csv", index=False)
    pd.concat([test, extra]).to_csv(folder / "test.csv", index=False)
    return {"train": folder / "train.csv", "test": folder / "test.csv", "folder": folder}


@pytest.fixture(scope="module")
def spark_model(spark: Any, string_ids: dict[str, Path]) -> tuple[Path, DriverGuard, Any]:
    from movierec.config import build_config
    from movierec.workflows import train

    cfg = build_config(
        overrides={
            "engine": "spark",
            "data": {"path": str(string_ids["train"])},
            "als": {"rank": 6, "max_iter": 5, "model": "biased-als"},
        }
    )
    out = string_ids["folder"] / "model"
    with pytest.MonkeyPatch.context() as mp:
        guard = DriverGuard(mp)
        result = train(cfg, out)
    return out, guard, result


def test_spark_train_writes_a_servable_model_folder(
    spark_model: tuple[Path, DriverGuard, Any], string_ids: dict[str, Path]
) -> None:
    from movierec.model_io import load_model_dir

    out, _, result = spark_model
    train = pd.read_csv(string_ids["train"])
    assert result.ratings == len(train) and result.engine == "spark"
    assert 0.0 < result.training_fit["rmse"] < 1.0 and result.training_fit["n"] == len(train)
    saved = load_model_dir(out)
    assert (out / "train_ratings.parquet").is_dir()
    assert saved.user_ids is not None and set(saved.user_ids) == set(train["userId"])
    assert saved.meta["training_data"]["users"] == train["userId"].nunique()


def test_spark_evaluate_and_recommend_match_the_local_engine_on_the_same_model(
    spark_model: tuple[Path, DriverGuard, Any], string_ids: dict[str, Path], tmp_path: Path
) -> None:
    """The same saved model evaluated and asked for every user's lists by each engine:
    text ids aligned on the cluster give the same coverage (the newcomer is cold start), and
    the same metrics and lists (both score in float64; Spark's predictions in float32)."""
    from movierec.config import build_config
    from movierec.lists import read_table
    from movierec.workflows import evaluate, recommend

    model, _, _ = spark_model
    cfg = build_config(overrides={"data": {"path": str(string_ids["test"])}})
    got = {name: evaluate(cfg, model, engine=name, baselines=True) for name in ("local", "spark")}
    local, spark = got["local"].metrics, got["spark"].metrics
    assert local["coverage"] == spark["coverage"]
    assert local["coverage"]["unknown_user_rows"] == 5
    assert spark["rmse"] == pytest.approx(local["rmse"], abs=1e-5)
    assert spark["catalogue_top_k"] == pytest.approx(local["catalogue_top_k"], abs=1e-9)
    assert spark["baselines"]["bias"]["rmse"] == pytest.approx(
        local["baselines"]["bias"]["rmse"], rel=1e-9
    )
    lists = {}
    for name in ("local", "spark"):
        out = tmp_path / name / "recs"
        result = recommend(cfg, model, None, n=4, engine=name, out=out, table=False)
        assert result.table is None and [p.name for p in result.files] == [
            "recs.parquet",
            "recs.csv",
        ]
        lists[name] = read_table(out.with_suffix(".parquet"))
    assert (tmp_path / "spark" / "recs.parquet").is_dir()
    assert lists["spark"][["user_id", "rank", "movie_id"]].equals(
        lists["local"][["user_id", "rank", "movie_id"]]
    )
    assert lists["spark"]["user_id"].iloc[0].startswith("u")


@pytest.fixture(scope="module")
def synthetic_model(
    spark: Any, synthetic: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, DriverGuard]:
    """``train`` on Spark on the dense synthetic data, with the driver guard installed."""
    from movierec.config import build_config
    from movierec.workflows import train

    cfg = build_config(
        overrides={
            "engine": "spark",
            "data": {"path": str(synthetic)},
            "als": {"rank": 4, "max_iter": 3, "model": "biased-als"},
        }
    )
    out = tmp_path_factory.mktemp("synthetic-model") / "model"
    with pytest.MonkeyPatch.context() as mp:
        guard = DriverGuard(mp)
        train(cfg, out)
    return out, guard


def test_spark_train_moves_no_rating_sized_data(synthetic_model: tuple[Path, DriverGuard]) -> None:
    _, guard = synthetic_model
    assert guard.calls, "the guard saw no driver transfer at all (is it installed?)"
    bound = 4 * (SYNTH["users"] + SYNTH["items"]) + 1_000
    offenders = guard.over(bound)
    assert not offenders, "\n".join(f"{kind} {n} rows at {at}" for kind, n, at in offenders)
