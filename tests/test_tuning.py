"""Grid search: every configuration cross-validated, fold RMSEs reproducible independently."""

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
from movierec.tuning import grid_search

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_grid_search_on_real_data(spark: Any, ml_small: Path) -> None:
    ratings = pd.read_csv(ml_small / "ratings.csv").rename(
        columns={"userId": USER, "movieId": ITEM}
    )
    ratings = ratings.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})
    engine = SparkEngine(spark)
    cfg = TuningConfig(
        models=["als"], ranks=[4, 8], reg_params=[0.1], max_iters=[5], folds=2, parallelism=2
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
    assert result.best["rank"] == result.results[0]["rank"]
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
    rmse = float(np.sqrt(np.mean((pred[ok] - valid[RATING].to_numpy()[ok]) ** 2)))
    row8 = next(r for r in result.results if r["rank"] == 8)
    assert row8["fold_rmse"][1] == pytest.approx(rmse, abs=1e-9)
    assert row8["cold_start_rows"] > 0  # some validation movies are unseen in training
