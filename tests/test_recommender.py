"""The notebook facade ``movierec.Recommender`` on the local engine: every task against an
independent computation from the model's own factors (numpy here, not the code under test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import movierec
from movierec.config import BIASED_ALS_DEFAULTS, IALS_DEFAULTS
from movierec.engines import ALSParams
from movierec.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def frames(ml_small: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """30k ml-latest-small ratings with user ids as text (forces id remapping), an 80/20
    split, and the movies table."""
    df = pd.read_csv(ml_small / "ratings.csv").head(30_000)
    df = df.rename(columns={"userId": "who", "movieId": "what", "rating": "stars"})
    df["who"] = "u" + df["who"].astype(str)
    test = df.sample(frac=0.2, random_state=3)
    train = df.drop(test.index)
    return train, test, pd.read_csv(ml_small / "movies.csv")


COLS = {"user_col": "who", "item_col": "what", "rating_col": "stars"}


@pytest.fixture(scope="module")
def biased(frames: Any) -> movierec.Recommender:
    train, _, movies = frames
    return movierec.Recommender("biased-als", rank=6, max_iter=4).fit(train, movies=movies, **COLS)


def _scores(rec: movierec.Recommender, user: str) -> pd.Series:
    """Every movie's score for ``user`` from the factors: mu + b_u + b_i + x.y (original ids)."""
    f = rec._state()
    fac = f.model.factors()
    uid = int(np.flatnonzero(np.asarray(f.loaded.user_ids) == user)[0])
    row = int(np.searchsorted(fac.user_ids, uid))
    s = fac.item_factors.astype(np.float64) @ fac.user_factors[row].astype(np.float64)
    if fac.user_bias is not None:
        s = s + fac.global_mean + fac.user_bias[row] + fac.item_bias
    return pd.Series(s, index=fac.item_ids)


def test_per_kind_defaults_come_from_the_config() -> None:
    for kind, defaults in (("biased-als", BIASED_ALS_DEFAULTS), ("ials", IALS_DEFAULTS)):
        p = movierec.Recommender(kind).params
        assert (p.rank, p.reg_param, p.max_iter) == tuple(
            defaults[k] for k in ("rank", "reg_param", "max_iter")
        )
        q = ALSParams(model=kind)
        assert (q.rank, q.reg_param, q.max_iter) == (p.rank, p.reg_param, p.max_iter)
    assert ALSParams(model="biased-als", rank=7).rank == 7
    assert ALSParams().rank == 10
    with pytest.raises(ConfigError, match="rank"):
        movierec.Recommender("als", rank=0)


def test_recommend_original_ids_unseen_and_ranked_like_the_factors(
    biased: movierec.Recommender, frames: Any
) -> None:
    train, _, _ = frames
    recs = biased.recommend(["u1", "u7"], n=5)
    assert list(recs.columns) == ["user_id", "rank", "movie_id", "title", "genres", "score"]
    for user in ("u1", "u7"):
        mine = recs[recs.user_id == user]
        seen = set(train.loc[train.who == user, "what"])
        assert not seen & set(mine.movie_id)
        scores = _scores(biased, user).drop(index=list(seen), errors="ignore")
        expected = scores.sort_values(ascending=False, kind="stable").head(5)
        assert list(mine.movie_id) == list(expected.index)
        assert np.allclose(mine.score, expected.to_numpy())
        assert (mine.title != "").all()
    with_seen = biased.recommend("u1", n=50, exclude_seen=False, titles=False)
    assert set(with_seen.movie_id) & set(train.loc[train.who == "u1", "what"])
    assert "title" not in with_seen.columns
    with pytest.raises(ConfigError, match="unknown user"):
        biased.recommend(["nobody"], n=3)


def test_predict_is_clipped_to_the_training_scale(biased: movierec.Recommender) -> None:
    pairs = pd.DataFrame({"who": ["u1", "u1", "ghost"], "what": [1, 3, 1]})
    out = biased.predict(pairs)
    raw = [_scores(biased, "u1")[m] for m in (1, 3)]
    assert np.allclose(out.prediction.iloc[:2], np.clip(raw, 0.5, 5.0))
    assert np.isnan(out.prediction.iloc[2])
    every = _scores(biased, "u1")
    assert every.max() > 5.0 or every.min() < 0.5  # the clip matters for this user
    top = int(every.idxmax())
    assert biased.predict(pd.DataFrame({"who": ["u1"], "what": [top]})).prediction.iloc[0] <= 5.0


def test_recommend_all_is_every_user(biased: movierec.Recommender, frames: Any) -> None:
    train, _, _ = frames
    allrecs = biased.recommend_all(3, titles=False)
    assert set(allrecs.user_id) == set(train.who)
    assert (allrecs.groupby("user_id").size() == 3).all()
    some = biased.recommend(["u3"], n=3, titles=False)
    pd.testing.assert_frame_equal(
        allrecs[allrecs.user_id == "u3"].reset_index(drop=True), some.reset_index(drop=True)
    )


def test_similar_items_by_title_is_the_cosine_of_item_factors(biased: movierec.Recommender) -> None:
    sims = biased.similar_items("Toy Story (1995)", n=4)
    fac = biased._state().model.factors()
    y = fac.item_factors.astype(np.float64)
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    row = int(np.searchsorted(fac.item_ids, 1))
    cos = pd.Series(unit @ unit[row], index=fac.item_ids).drop(index=1)
    expected = cos.sort_values(ascending=False, kind="stable").head(4)
    assert list(sims.movie_id) == list(expected.index)
    assert np.allclose(sims.score, expected.to_numpy())
    by_id = biased.similar_items(1, n=4)
    pd.testing.assert_frame_equal(sims, by_id)
    with pytest.raises(ConfigError, match="no movie title matches"):
        biased.similar_items("zzzzqqqq xxyy", n=3)


@pytest.mark.parametrize(
    "kind, extra",
    [("als", {}), ("biased-als", {}), ("ials", {"implicit_solver": "cholesky"})],
)
def test_fold_in_of_a_training_user_gives_their_own_list(
    frames: Any, kind: str, extra: dict[str, Any]
) -> None:
    """Training ends with a user half-step, so folding a training user's own ratings in
    against the final item factors reproduces their factors and so their top-N."""
    train, _, movies = frames
    rec = movierec.Recommender(kind, rank=5, max_iter=4, **extra).fit(train, movies=movies, **COLS)
    mine = train.loc[train.who == "u5", ["what", "stars"]]
    new = rec.recommend_for(dict(zip(mine.what, mine.stars)), n=5, titles=False)
    known = rec.recommend("u5", n=5, titles=False)
    assert list(new.movie_id) == list(known.movie_id)
    assert np.allclose(new.score, known.score, rtol=1e-4, atol=1e-5)
    as_frame = rec.recommend_for(mine, n=5, item_col="what", rating_col="stars", titles=False)
    assert list(as_frame.movie_id) == list(new.movie_id)
    with pytest.raises(ConfigError, match="none of the rated movies"):
        rec.recommend_for({-5: 4.0}, n=3)


def test_evaluate_rmse_matches_an_independent_computation(
    biased: movierec.Recommender, frames: Any
) -> None:
    _, test, _ = frames
    ev = biased.evaluate(test, k=5, threshold=3.5, **COLS)
    pred = biased.predict(test, user_col="who", item_col="what").prediction.to_numpy()
    ok = ~np.isnan(pred)
    rmse = float(np.sqrt(np.mean((pred[ok] - test.stars.to_numpy()[ok]) ** 2)))
    assert ev.rmse == pytest.approx(rmse, rel=1e-9)
    table = ev.to_frame()
    assert list(table.index) == ["biased-als", "global_mean", "bias", "most_popular"]
    assert table.loc["global_mean", "rmse"] > table.loc["biased-als", "rmse"]
    assert "<table>" in ev._repr_html_() and "ndcg@k" in ev._repr_html_()
    no_base = biased.evaluate(test, k=5, baselines=False, **COLS)
    assert list(no_base.to_frame().index) == ["biased-als"]


def test_save_and_load_round_trip(biased: movierec.Recommender, tmp_path: Path) -> None:
    folder = biased.save(tmp_path / "m")
    back = movierec.Recommender.load(folder)
    pd.testing.assert_frame_equal(back.recommend(["u2"], 5), biased.recommend(["u2"], 5))
    pairs = pd.DataFrame({"who": ["u2", "u9"], "what": [1, 50]})
    assert np.allclose(back.predict(pairs).prediction, biased.predict(pairs).prediction)
    pd.testing.assert_frame_equal(back.similar_items(1, 3), biased.similar_items(1, 3))


def test_not_fitted_says_so() -> None:
    with pytest.raises(ModelError, match="not fitted"):
        movierec.Recommender().recommend([1])
