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
