"""The Spark engine against independent numpy computations on real data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.engines.base import ALSParams
from movierec.engines.spark_als import SparkALSModel, SparkData, SparkEngine
from movierec.errors import EngineError, ModelError
from movierec.model_io import align_test_ids, fingerprint, load_model_dir, save_model
from movierec.schema import ITEM, RANK, RATING, SCORE, USER
from movierec.split import random_split

pytestmark = pytest.mark.spark

PARAMS = ALSParams(rank=8, reg_param=0.1, max_iter=6, seed=3)


@pytest.fixture(scope="module")
def ratings(ml_small: Path) -> pd.DataFrame:
    df = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    return df.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})


@pytest.fixture(scope="module")
def engine(spark: Any) -> SparkEngine:
    return SparkEngine(spark)


@pytest.fixture(scope="module")
def fitted(
    engine: SparkEngine, ratings: pd.DataFrame
) -> tuple[SparkALSModel, SparkData, pd.DataFrame]:
    train, test = random_split(ratings, 0.2, seed=42)
    handle = engine.data(train)
    return engine.fit(handle, PARAMS), handle, test


def test_fit_beats_global_mean_and_is_deterministic(
    engine: SparkEngine, fitted: tuple[SparkALSModel, SparkData, pd.DataFrame]
) -> None:
    model, handle, test = fitted
    pred = model.predict(test)
    ok = ~np.isnan(pred)
    actual = test[RATING].to_numpy()
    rmse = float(np.sqrt(np.mean((pred[ok] - actual[ok]) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((handle.ratings[RATING].mean() - actual[ok]) ** 2)))
    assert rmse < mean_rmse - 0.05, (rmse, mean_rmse)
    again = engine.fit(handle, PARAMS).predict(test)
    np.testing.assert_array_equal(pred, again)


def test_predict_keeps_row_order_and_marks_cold_start(
    fitted: tuple[SparkALSModel, SparkData, pd.DataFrame],
) -> None:
    model, _, test = fitted
    sample = test.iloc[:500].reset_index(drop=True)
    base = model.predict(sample)
    perm = np.random.default_rng(1).permutation(len(sample))
    np.testing.assert_array_equal(model.predict(sample.iloc[perm]), base[perm])
    unknown = pd.DataFrame(
        {USER: [999_999, int(sample[USER][0])], ITEM: [int(sample[ITEM][0]), 999_999]}
    )
    assert np.isnan(model.predict(unknown)).all()


def test_predictions_are_factor_dot_products(
    fitted: tuple[SparkALSModel, SparkData, pd.DataFrame],
) -> None:
    model, _, test = fitted
    f = model.factors()
    assert f.user_factors.shape == (len(f.user_ids), PARAMS.rank)
    assert np.all(np.diff(f.user_ids) > 0) and np.all(np.diff(f.item_ids) > 0)
    pred = model.predict(test.iloc[:300])
    u = np.searchsorted(f.user_ids, test[USER].to_numpy()[:300])
    i = np.searchsorted(f.item_ids, test[ITEM].to_numpy()[:300])
    valid = (f.user_ids[np.minimum(u, len(f.user_ids) - 1)] == test[USER].to_numpy()[:300]) & (
        f.item_ids[np.minimum(i, len(f.item_ids) - 1)] == test[ITEM].to_numpy()[:300]
    )
    dots = np.einsum("ij,ij->i", f.user_factors[u[valid]], f.item_factors[i[valid]])
    np.testing.assert_allclose(pred[:300][valid], dots, rtol=1e-5, atol=1e-5)


def test_recommend_matches_brute_force_and_excludes_seen(
    fitted: tuple[SparkALSModel, SparkData, pd.DataFrame],
) -> None:
    model, handle, _ = fitted
    users = np.array([1, 68, 414, 600], dtype=np.int32)
    recs = model.recommend(users, 10, exclude=handle)
    assert sorted(recs[USER].unique().tolist()) == users.tolist()
    f = model.factors()
    train = handle.ratings
    for user in users:
        mine = recs[recs[USER] == user]
        assert mine[RANK].tolist() == list(range(1, 11))
        seen = set(train.loc[train[USER] == user, ITEM].tolist())
        assert not seen & set(mine[ITEM].tolist())
        # Independent brute force: every unseen movie scored with numpy, ties by movie id.
        scores = f.item_factors.astype(np.float64) @ f.user_factors[
            np.searchsorted(f.user_ids, user)
        ].astype(np.float64)
        candidates = [
            (-s, int(m)) for m, s in zip(f.item_ids.tolist(), scores.tolist()) if int(m) not in seen
        ]
        expected = [m for _, m in sorted(candidates)[:10]]
        assert mine[ITEM].tolist() == expected
        np.testing.assert_allclose(
            mine[SCORE].to_numpy(), [-s for s, _ in sorted(candidates)[:10]], rtol=1e-9
        )


def test_aggregates_count_what_pandas_counts(engine: SparkEngine, ratings: pd.DataFrame) -> None:
    handle = engine.data(ratings)
    try:
        users, items, values = engine.aggregates(handle)
    finally:
        handle.release()
    assert users.sum() == items.sum() == values.sum() == len(ratings)
    assert len(users) == 610 and len(items) == 9724
    assert users.loc[414] == int((ratings[USER] == 414).sum())
    assert values.loc[4.0] == int((ratings[RATING] == 4.0).sum())


def test_model_folder_round_trip(
    tmp_path: Path, engine: SparkEngine, fitted: tuple[SparkALSModel, SparkData, pd.DataFrame]
) -> None:
    model, handle, test = fitted
    movies = pd.DataFrame({ITEM: [1, 2], "title": ["A", "B"], "genres": ["x", "y"]})
    target = save_model(
        model, tmp_path / "model", engine="spark", train=handle.ratings, movies=movies
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    saved = load_model_dir(target)
    assert saved.meta["params"] == PARAMS.to_dict()
    assert saved.meta["training_data"]["fingerprint"] == fingerprint(handle.ratings)
    assert saved.meta["training_data"]["ratings"] == len(handle.ratings)
    f = model.factors()
    np.testing.assert_array_equal(saved.factors.item_factors, f.item_factors)
    np.testing.assert_array_equal(saved.factors.user_ids, f.user_ids)
    pd.testing.assert_frame_equal(saved.movies, movies)
    loaded = engine.load(saved.engine_path, saved.params)
    assert loaded.params == PARAMS
    np.testing.assert_array_equal(loaded.predict(test.iloc[:200]), model.predict(test.iloc[:200]))
    # Factors load with plain numpy and no pickles.
    with np.load(target / "factors.npz", allow_pickle=False) as z:
        assert z["user_factors"].dtype == np.float32

    meta = json.loads((target / "model.json").read_text())
    meta["format_version"] = 99
    (target / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format version 99 is not supported"):
        load_model_dir(target)
    with pytest.raises(ModelError, match=r"model folder .*nowhere does not exist"):  # issue 16
        load_model_dir(tmp_path / "nowhere")


def test_fingerprint_ignores_row_order(ratings: pd.DataFrame) -> None:
    import hashlib
    import struct

    sample = ratings.iloc[:1000]
    # Reference: SHA-256 over the (user, movie)-sorted int32 users, int32 movies, float64 ratings.
    rows = sorted(zip(sample[USER], sample[ITEM], sample[RATING]))
    h = hashlib.sha256()
    h.update(b"".join(struct.pack("<i", u) for u, _, _ in rows))
    h.update(b"".join(struct.pack("<i", m) for _, m, _ in rows))
    h.update(b"".join(struct.pack("<d", r) for _, _, r in rows))
    assert fingerprint(sample) == "sha256:" + h.hexdigest()
    assert fingerprint(sample) == fingerprint(sample.iloc[::-1])
    changed = sample.copy()
    changed.loc[changed.index[0], RATING] += 0.5
    assert fingerprint(changed) != fingerprint(sample)


def test_align_test_ids_through_original_ids() -> None:
    class Loaded:
        ratings = pd.DataFrame({USER: [0, 1, 0], ITEM: [0, 0, 1], RATING: [4.0, 3.0, 2.0]})
        user_ids = np.array(["bob", "zed"], dtype=object)
        item_ids = None

    class Saved:
        user_ids = np.array(["amy", "bob"])
        item_ids = None

        class factors:
            user_ids = np.array([0, 1])
            item_ids = np.array([0, 1])

    out = align_test_ids(Loaded(), Saved())  # type: ignore[arg-type]
    # "bob" is model user 1; "zed" is unknown -> an id no model user has (cold start).
    assert out[USER].tolist()[0] == 1 and out[USER].tolist()[2] == 1
    assert out[USER].tolist()[1] not in (0, 1)
    assert out[ITEM].tolist() == [0, 0, 1]


BIASED = ALSParams(rank=8, reg_param=0.15, max_iter=6, seed=3, model="biased-als", bias_reg=5.0)


def test_biased_model_against_independent_biases(
    tmp_path: Path, engine: SparkEngine, fitted: tuple[SparkALSModel, SparkData, pd.DataFrame]
) -> None:
    plain, handle, test = fitted
    train = handle.ratings
    model = engine.fit(handle, BIASED)
    f = model.factors()
    # Biases recomputed in plain pandas from their definition.
    mu = train[RATING].mean()
    item_sum = (train[RATING] - mu).groupby(train[ITEM]).agg(["sum", "count"])
    b_i = item_sum["sum"] / (item_sum["count"] + 5.0)
    resid_u = train[RATING] - mu - train[ITEM].map(b_i)
    user_sum = resid_u.groupby(train[USER]).agg(["sum", "count"])
    b_u = user_sum["sum"] / (user_sum["count"] + 5.0)
    assert f.global_mean == pytest.approx(mu, abs=1e-12)
    assert f.user_bias is not None and f.item_bias is not None
    np.testing.assert_allclose(f.item_bias, b_i.reindex(f.item_ids).to_numpy(), atol=1e-12)
    np.testing.assert_allclose(f.user_bias, b_u.reindex(f.user_ids).to_numpy(), atol=1e-12)

    # prediction = mu + b_u + b_i + x_u . y_i
    sample = test.iloc[:300].reset_index(drop=True)
    pred = model.predict(sample)
    ok = ~np.isnan(pred)
    u = np.searchsorted(f.user_ids, sample[USER].to_numpy()[ok])
    i = np.searchsorted(f.item_ids, sample[ITEM].to_numpy()[ok])
    expected = (
        f.global_mean
        + f.user_bias[u]
        + f.item_bias[i]
        + np.einsum("ij,ij->i", f.user_factors[u].astype(float), f.item_factors[i].astype(float))
    )
    np.testing.assert_allclose(pred[ok], expected, rtol=1e-5, atol=1e-5)

    # On this data the biased model predicts better than plain ALS with the same settings.
    def rmse(p: np.ndarray) -> float:
        m = ~np.isnan(p)
        return float(np.sqrt(np.mean((p[m] - test[RATING].to_numpy()[m]) ** 2)))

    assert rmse(model.predict(test)) < rmse(plain.predict(test))

    # Top-N includes the biases: brute force for one user.
    recs = model.recommend(np.array([68]), 5, exclude=handle)
    seen = set(train.loc[train[USER] == 68, ITEM].tolist())
    ui = np.searchsorted(f.user_ids, 68)
    scores = (
        f.global_mean
        + f.user_bias[ui]
        + f.item_bias
        + f.item_factors.astype(float) @ f.user_factors[ui].astype(float)
    )
    ranked = sorted(
        (-s, int(m)) for m, s in zip(f.item_ids.tolist(), scores.tolist()) if m not in seen
    )
    assert recs[ITEM].tolist() == [m for _, m in ranked[:5]]

    # Save and load keep the biases.
    save_model(model, tmp_path / "biased", engine="spark", train=train)
    saved = load_model_dir(tmp_path / "biased")
    assert saved.params == BIASED
    assert saved.factors.global_mean == pytest.approx(mu)
    reloaded = engine.load(saved.engine_path, saved.params)
    np.testing.assert_array_equal(reloaded.predict(sample), pred)


@pytest.mark.slow
def test_long_fit_survives_thanks_to_checkpoints(
    engine: SparkEngine, ratings: pd.DataFrame
) -> None:
    """maxIter 100 overflows the JVM stack without checkpointing; the session always sets a
    checkpoint directory (and a larger stack), so it completes."""
    assert engine.spark.sparkContext.getCheckpointDir() is not None
    small = ratings.iloc[:8000].reset_index(drop=True)
    handle = engine.data(small)
    try:
        model = engine.fit(handle, ALSParams(rank=4, reg_param=0.1, max_iter=100, seed=1))
        pred = model.predict(small.iloc[:500])
    finally:
        handle.release()
    assert np.isfinite(pred).all()
    rmse = float(np.sqrt(np.mean((pred - small[RATING].to_numpy()[:500]) ** 2)))
    assert rmse < 0.8  # training-set fit after 100 iterations


def test_blocked_top_n_matches_brute_force_with_ties_across_many_blocks(
    tmp_path: Path, engine: SparkEngine, fitted: tuple[SparkALSModel, SparkData, pd.DataFrame]
) -> None:
    """Every user's list from the blocked top-N (3 user x 39 movie blocks) equals a numpy
    brute force over the full score matrix, including the movie-id tie-break: factors are
    rounded to quarters so every dot product is exact and many scores tie."""
    from pyspark.ml.recommendation import ALSModel

    model, handle, _ = fitted
    model.model.write().save((tmp_path / "als").as_uri())
    spark = engine.spark
    shutil.copytree(tmp_path / "als" / "metadata", tmp_path / "rounded" / "metadata")
    for side in ("userFactors", "itemFactors"):
        pdf = spark.read.parquet((tmp_path / "als" / side).as_uri()).toPandas()
        pdf["features"] = [list(np.round(np.asarray(f) * 4) / 4) for f in pdf["features"]]
        out = spark.createDataFrame(pdf, "id int, features array<float>")
        out.write.parquet((tmp_path / "rounded" / side).as_uri())
    loaded = ALSModel.load((tmp_path / "rounded").as_uri())
    rounded = SparkALSModel(spark, loaded, PARAMS, block_size=250)
    recs = rounded.recommend(None, 7, exclude=handle)

    f = rounded.factors()
    scores = f.user_factors.astype(np.float64) @ f.item_factors.astype(np.float64).T
    train = handle.ratings
    rows = np.searchsorted(f.user_ids, train[USER].to_numpy())
    cols = np.searchsorted(f.item_ids, train[ITEM].to_numpy())
    scores[rows, cols] = -np.inf
    expected_items, expected_scores = [], []
    for r in range(len(f.user_ids)):
        order = np.lexsort((f.item_ids, -scores[r]))[:7]  # score desc, then movie id asc
        expected_items.append(f.item_ids[order])
        expected_scores.append(scores[r, order])
    assert recs[USER].tolist() == np.repeat(f.user_ids, 7).tolist()
    assert recs[RANK].tolist() == list(range(1, 8)) * len(f.user_ids)
    assert recs[ITEM].tolist() == np.concatenate(expected_items).tolist()
    np.testing.assert_array_equal(recs[SCORE].to_numpy(), np.concatenate(expected_scores))
    # The rounding made ties, and some fell at the cut of a top-7 list.
    top = np.concatenate(expected_scores).reshape(-1, 7)
    assert (np.diff(top, axis=1) == 0).any()


def test_top_n_block_size_does_not_change_results(
    fitted: tuple[SparkALSModel, SparkData, pd.DataFrame],
) -> None:
    model, handle, _ = fitted
    users = np.array([3, 68, 200, 414, 599], dtype=np.int32)
    one_block = SparkALSModel(model._spark, model.model, PARAMS, block_size=100_000)
    many = SparkALSModel(model._spark, model.model, PARAMS, block_size=2)
    pd.testing.assert_frame_equal(
        one_block.recommend(users, 5, exclude=handle), many.recommend(users, 5, exclude=handle)
    )
    with pytest.raises(EngineError, match="block size must be at least 1"):
        SparkALSModel(model._spark, model.model, PARAMS, block_size=0)
