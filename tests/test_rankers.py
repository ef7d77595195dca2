"""The ials and ease candidates of the recommender choice (movierec.rankers) and tuning of ease."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec import rankers
from movierec.config import ALSConfig, RunConfig, TuningConfig
from movierec.engines.base import ALSParams
from movierec.engines.local_als import LocalEngine
from movierec.errors import ConfigError
from movierec.metrics import catalogue_top_k
from movierec.pipeline import RECOMMENDERS, choose_recommender, recommender_candidates
from movierec.schema import ITEM, RATING, USER
from movierec.search import Candidate, enqueued, random_candidates
from movierec.split import SALT_RECOMMENDER, random_split
from movierec.tuning import tune


@pytest.fixture(scope="module")
def ratings(ml_small: Path) -> pd.DataFrame:
    """ml-latest-small's first 120 users."""
    r = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    r = r.loc[r[USER] <= 120, [USER, ITEM, RATING]]
    return r.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64}).reset_index(drop=True)


def test_candidates_include_the_new_kinds_in_tie_break_order() -> None:
    cfg = RunConfig.model_validate({"seed": 3, "engine": "local", "als": {"ease_threshold": 3.5}})
    cands = recommender_candidates(ALSParams(model="als", seed=3), cfg)
    assert "ease" in cands and cands["ease"] is not None
    ease = cands["ease"]
    assert ease.model == "ease" and ease.reg_param == cfg.recommend.ease_lambdas[0]
    assert ease.ease_threshold == 3.5 and ease.seed == 3
    assert list(cands) == [name for name in RECOMMENDERS if name in cands]
    assert RECOMMENDERS.index("implicit-als") < RECOMMENDERS.index("ials")
    assert RECOMMENDERS.index("ease") < RECOMMENDERS.index("most-popular")
    ials = cands["ials"]
    assert ials is not None and ials.model == "ials" and ials.seed == 3
    # the ials defaults of the config (rank 256, λ 0.00111, α0 0.3, ν 1.25)
    default = ALSConfig.model_validate({"model": "ials"})
    assert (ials.rank, ials.reg_param, ials.max_iter) == (
        default.rank,
        default.reg_param,
        default.max_iter,
    )
    assert (ials.unobserved_weight, ials.reg_exponent) == (
        default.unobserved_weight,
        default.reg_exponent,
    )


def test_ials_is_a_candidate_of_the_local_engine_only() -> None:
    spark = RunConfig.model_validate({"engine": "spark"})
    assert "ials" not in rankers.ranker_candidates(spark)
    assert "ease" in rankers.ranker_candidates(spark)
    assert not rankers.available("ials", "spark") and rankers.available("ials", "local")
    # an [als] section configuring ials is the candidate's configuration
    mine = RunConfig.model_validate(
        {"engine": "local", "als": {"model": "ials", "rank": 12, "unobserved_weight": 0.05}}
    )
    got = rankers.ranker_candidates(mine)["ials"]
    assert (got.model, got.rank, got.unobserved_weight) == ("ials", 12, 0.05)


def test_ease_alternatives_are_the_lambdas_unless_tuned(ratings: pd.DataFrame) -> None:
    cfg = RunConfig.model_validate({"recommend": {"ease_lambdas": [50, 300]}})
    first = rankers.ranker_candidates(cfg)["ease"]
    lams = [p.reg_param for p in rankers.alternatives("ease", first, cfg)]
    assert lams == [50.0, 300.0]
    other = ALSParams(model="implicit-als")
    assert rankers.alternatives("implicit-als", other, cfg) == [other]
    # a tuning run that tried ease fixes λ: one alternative, the tuned value
    engine = LocalEngine()
    tcfg = TuningConfig(models=["ease"], ease_lambdas=[30.0, 90.0], folds=2, objective="ndcg@10")
    result = tune(engine, ratings, tcfg, first, 1)
    best = result.best_of_model("ease", first)
    assert best is not None and best.reg_param in (30.0, 90.0)
    assert [r["regParam"] for r in result.results] == sorted(
        [30.0, 90.0],
        key=lambda lam: -next(r["ndcg_mean"] for r in result.results if r["regParam"] == lam),
    )
    tuned = rankers.ranker_candidates(cfg, result)["ease"]
    assert tuned.reg_param == best.reg_param
    assert [p.reg_param for p in rankers.alternatives("ease", tuned, cfg, result)] == [
        best.reg_param
    ]


def test_choose_recommender_tries_every_lambda_and_keeps_the_best(ratings: pd.DataFrame) -> None:
    cfg = RunConfig.model_validate(
        {
            "engine": "local",
            "seed": 5,
            "recommend": {"implicit_rank": 8, "implicit_max_iter": 5, "ease_lambdas": [20, 400]},
            "als": {"model": "ials", "rank": 8, "max_iter": 4},  # a small ials candidate
        }
    )
    engine = LocalEngine()
    choice = choose_recommender(engine, ratings, ALSParams(rank=4, max_iter=5, seed=5), cfg)
    assert "ease" in choice["validation_ndcg"] and "ials" in choice["validation_ndcg"]
    assert choice["candidates"]["ials"]["rank"] == 8
    per_lambda = {float(k): v for k, v in choice["ease_lambdas"].items()}
    assert set(per_lambda) == {20.0, 400.0}
    assert choice["validation_ndcg"]["ease"] == max(per_lambda.values())
    best_lam = max(per_lambda, key=lambda lam: per_lambda[lam])
    assert choice["candidates"]["ease"]["reg_param"] == best_lam
    # recompute one λ's validation NDCG independently: EASE on ratings >= 3, seen excluded
    train, valid = random_split(ratings, 0.2, 5, SALT_RECOMMENDER)
    handle = engine.data(train)
    model = engine.fit(handle, rankers.ease_params(cfg, 400.0))
    recs = model.recommend(np.unique(valid[USER].to_numpy()), 10, exclude=handle)
    assert per_lambda[400.0] == pytest.approx(catalogue_top_k(recs, valid, 10, 3.0)["ndcg"])
    assert choice["recommender"] == max(
        choice["validation_ndcg"], key=lambda n: choice["validation_ndcg"][n]
    )


def test_forced_ease_and_unavailable_kind() -> None:
    cfg = RunConfig.model_validate({"recommend": {"recommender": "ease"}})
    choice = choose_recommender(LocalEngine(), pd.DataFrame(), ALSParams(), cfg)
    assert choice["recommender"] == "ease" and choice["params"]["model"] == "ease"
    assert choice["params"]["reg_param"] == cfg.recommend.ease_lambdas[0]
    forced = RunConfig.model_validate({"engine": "spark", "recommend": {"recommender": "ials"}})
    with pytest.raises(ConfigError, match="'ials' is not available"):
        choose_recommender(LocalEngine(), pd.DataFrame(), ALSParams(), forced)


def test_search_draws_ease_lambda_only() -> None:
    cfg = TuningConfig(
        models=["ease", "als"], search="random", trials=30, objective="ndcg@10",
        ease_lambda_range=[10.0, 1000.0],
    )  # fmt: skip
    cands = random_candidates(cfg, 4)
    eases = [c for c in cands if c.model == "ease"]
    assert eases and all(10.0 <= c.reg_param <= 1000.0 and c.rank == c.max_iter == 0 for c in eases)
    assert enqueued(Candidate("ease", 0, 123.0, 0), cfg) == {"easeLambda": 123.0, "model": "ease"}
    grid = TuningConfig(models=["ease", "als"], ranks=[4], reg_params=[0.1], max_iters=[5],
                        ease_lambdas=[1.0, 2.0], objective="ndcg@10")  # fmt: skip
    assert grid.configurations() == [("ease", 0, 1.0, 0), ("ease", 0, 2.0, 0), ("als", 4, 0.1, 5)]
    with pytest.raises(ValueError, match="ease scores are not ratings"):
        TuningConfig(models=["ease"])


def test_ials_tuning_searches_alpha0_and_nu(ratings: pd.DataFrame) -> None:
    """ials is tunable with a ranking objective over λ, rank and its own α0 and ν: the grid
    tries each point with every (α0, ν); the rows record them and the best row's values
    are the ials candidate's configuration; random search draws them in their ranges."""
    cfg = TuningConfig(
        models=["ials"], ranks=[4], reg_params=[0.003], max_iters=[3], folds=2,
        objective="ndcg@10", ials_unobserved_weights=[0.05, 0.5], ials_reg_exponents=[1.0],
        prune=False,
    )  # fmt: skip
    assert cfg.planned_fits() == 2 * 2
    base = ALSParams(model="ials", seed=2)
    result = tune(LocalEngine(), ratings, cfg, base, 2)
    rows = result.results
    assert sorted(r["unobservedWeight"] for r in rows) == [0.05, 0.5]
    assert all(r["regExponent"] == 1.0 and "alpha" not in r for r in rows)
    # the recorded NDCG of each row is its own fit's: the two α0 give different models
    assert rows[0]["ndcg_mean"] >= rows[1]["ndcg_mean"]
    best = result.best_of_model("ials", base)
    assert best is not None and best.unobserved_weight == rows[0]["unobservedWeight"]
    run = RunConfig.model_validate({"engine": "local"})
    assert rankers.ranker_candidates(run, result)["ials"].unobserved_weight == (
        best.unobserved_weight
    )
    rnd = TuningConfig(
        models=["ials"], search="random", trials=20, objective="ndcg@10",
        ials_unobserved_weight_range=[0.02, 0.2], ials_reg_exponent_range=[0.8, 1.2],
    )  # fmt: skip
    drawn = random_candidates(rnd, 3)
    assert all(
        c.unobserved_weight is not None and 0.02 <= c.unobserved_weight <= 0.2 for c in drawn
    )
    assert all(c.reg_exponent is not None and 0.8 <= c.reg_exponent <= 1.2 for c in drawn)
    assert len({c.unobserved_weight for c in drawn}) > 1
    c = drawn[0]
    assert enqueued(c, rnd)["unobservedWeight"] == c.unobserved_weight
    assert c.params(base).reg_exponent == c.reg_exponent
