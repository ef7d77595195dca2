"""What implicit ALS is fitted on, and the recommender chosen among four candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.config import RunConfig
from movierec.engines.base import ALSParams
from movierec.engines.local_als import LocalEngine
from movierec.errors import ConfigError, DataError
from movierec.interactions import fit_model, to_interactions
from movierec.rankers import available
from movierec.schema import ITEM, RATING, USER


@pytest.fixture(scope="module")
def ratings(ml_small: Path) -> pd.DataFrame:
    """ml-latest-small's first 120 users."""
    r = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    r = r.loc[r[USER] <= 120, [USER, ITEM, RATING]]
    return r.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64}).reset_index(drop=True)


def test_the_three_modes() -> None:
    df = pd.DataFrame({USER: [1, 1, 2, 2], ITEM: [10, 11, 10, 12], RATING: [5.0, 2.5, 3.5, 1.0]})
    assert to_interactions(df, "rating") is df
    ones = to_interactions(df, "all")
    assert ones[RATING].tolist() == [1.0] * 4 and ones[[USER, ITEM]].equals(df[[USER, ITEM]])
    assert df[RATING].tolist() == [5.0, 2.5, 3.5, 1.0]  # the input is not modified
    kept = to_interactions(df, "threshold", 3.5)
    assert list(zip(kept[USER], kept[ITEM], kept[RATING], strict=True)) == [
        (1, 10, 1.0),
        (2, 10, 1.0),
    ]
    with pytest.raises(DataError, match="no rating is >= the interaction threshold 6"):
        to_interactions(df, "threshold", 6.0)
    with pytest.raises(ConfigError, match="unknown interactions mode"):
        to_interactions(df, "clicks")


def test_threshold_mode_fits_on_liked_movies_but_excludes_every_rated_one(
    ratings: pd.DataFrame,
) -> None:
    engine = LocalEngine()
    handle = engine.data(ratings)
    params = ALSParams(model="implicit-als", rank=8, max_iter=5, seed=1)
    model = fit_model(engine, handle, params, "threshold", 4.0)
    # Fitted on ratings >= 4 only: a movie rated only below 4 is unknown to the model.
    only_low = ratings.groupby(ITEM)[RATING].max().loc[lambda m: m < 4.0].index
    liked = ratings.loc[ratings[RATING] >= 4.0]
    assert len(only_low) > 0
    assert set(model.factors().item_ids.tolist()) == set(liked[ITEM].unique().tolist())
    # Movies rated below the threshold are still seen and never recommended.
    recs = model.recommend(None, 20, exclude=handle)
    seen = set(zip(ratings[USER], ratings[ITEM], strict=True))
    assert len(recs) > 0
    assert not any((u, i) in seen for u, i in zip(recs[USER], recs[ITEM], strict=True))

    # "all" mode = the same fit as on a table of ones; "rating" mode = the raw ratings.
    ones = engine.data(ratings.assign(**{RATING: 1.0}))
    a = fit_model(engine, handle, params, "all").factors()
    b = engine.fit(ones, params).factors()
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    raw = fit_model(engine, handle, params, "rating").factors()
    assert not np.allclose(raw.user_factors, a.user_factors)
    # explicit models ignore the mode
    explicit = ALSParams(rank=4, max_iter=3, seed=1)
    np.testing.assert_array_equal(
        fit_model(engine, handle, explicit, "threshold", 4.0).factors().item_factors,
        engine.fit(handle, explicit).factors().item_factors,
    )


def test_choose_recommender_compares_both_explicit_kinds_implicit_and_popular(
    ratings: pd.DataFrame,
) -> None:
    from movierec.metrics import catalogue_top_k
    from movierec.pipeline import choose_recommender, fit_recommender
    from movierec.split import SALT_RECOMMENDER, random_split

    cfg = RunConfig.model_validate(
        {
            "engine": "local",
            "seed": 5,
            "recommend": {"implicit_rank": 8, "implicit_max_iter": 5},
            "interactions": {"mode": "threshold"},
        }
    )
    rating = ALSParams(model="biased-als", rank=4, max_iter=5, seed=5)
    engine = LocalEngine()
    choice = choose_recommender(engine, ratings, rating, cfg)
    scores = choice["validation_ndcg"]
    kinds = {"rating-model", "als", "implicit-als", "ease", "most-popular"}
    assert set(scores) == kinds | ({"ials"} if available("ials") else set())
    assert choice["recommender"] == max(scores, key=lambda name: scores[name])
    assert choice["candidates"]["als"]["model"] == "als"
    assert choice["candidates"]["als"]["rank"] == 4  # the rating model's values, other kind
    assert "rating-model (biased-als)" in choice["why"]
    # Recompute the implicit candidate's score: threshold interactions (>= 3.0), seen excluded.
    train, valid = random_split(ratings, 0.2, 5, SALT_RECOMMENDER)
    handle = engine.data(train)
    implicit = engine.fit(
        engine.data(train.loc[train[RATING] >= 3.0].assign(**{RATING: 1.0})),
        ALSParams(**choice["candidates"]["implicit-als"]),
    )
    recs = implicit.recommend(np.unique(valid[USER].to_numpy()), 10, exclude=handle)
    assert scores["implicit-als"] == pytest.approx(catalogue_top_k(recs, valid, 10, 3.0)["ndcg"])
    # the winner's parameters can be refitted (most-popular has none)
    if choice["params"] is not None:
        model = fit_recommender(engine, handle, choice, cfg)
        assert model.params.model == choice["params"]["model"]
    else:
        with pytest.raises(ConfigError):
            fit_recommender(engine, handle, choice, cfg)
