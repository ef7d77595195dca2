"""Prediction clipping to the rating scale: hand-worked numbers and every scoring path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from movierec.cli import cli
from movierec.config import build_config
from movierec.engines.base import ALSParams, EngineData, Factors, TrainedModel
from movierec.engines.clipping import (
    ClippedModel,
    clip_ratings,
    fit_clipped,
    prediction_scale,
    with_clipping,
)
from movierec.engines.local_als import LocalEngine
from movierec.errors import ConfigError
from movierec.evaluation import evaluate
from movierec.schema import ITEM, RANK, RATING, SCORE, USER
from movierec.split import random_split
from movierec.tuning import holdout_rmse


def _table(users: list[int], items: list[int], ratings: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            USER: np.array(users, dtype=np.int32),
            ITEM: np.array(items, dtype=np.int32),
            RATING: np.array(ratings, dtype=np.float64),
        }
    )


class FixedModel(TrainedModel):
    """Predicts given numbers (one per row, in order); recommends by the same numbers."""

    def __init__(self, values: list[float], params: ALSParams | None = None) -> None:
        self.values = np.array(values, dtype=np.float64)
        self.params = params or ALSParams(model="biased-als")
        self.released = False

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return self.values[: len(pairs)].copy()

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        return pd.DataFrame({USER: [1], ITEM: [7], SCORE: [9.5], RANK: [1]})

    def factors(self) -> Factors:
        empty = np.zeros(0, dtype=np.int32)
        return Factors(empty, np.zeros((0, 1)), empty, np.zeros((0, 1)))

    def save(self, path: Path) -> None:
        raise NotImplementedError

    def release(self) -> None:
        self.released = True


def test_clip_ratings_by_hand() -> None:
    got = clip_ratings(np.array([0.2, 3.0, 5.7, np.nan, -1.0, 5.0]), (0.5, 5.0))
    np.testing.assert_array_equal(got, [0.5, 3.0, 5.0, np.nan, 0.5, 5.0])
    same = np.array([7.0, -2.0])
    np.testing.assert_array_equal(clip_ratings(same, None), same)


def test_scale_comes_from_training_data_or_config() -> None:
    train = _table([1, 1, 2], [1, 2, 1], [1.0, 4.5, 3.0])
    assert prediction_scale(ALSParams(), train) == (1.0, 4.5)
    assert prediction_scale(ALSParams(rating_scale=(0.5, 5.0)), train) == (0.5, 5.0)
    assert prediction_scale(ALSParams(clip_predictions=False), train) is None
    assert prediction_scale(ALSParams(model="implicit-als"), train) is None
    assert prediction_scale(ALSParams(), _table([1, 2], [1, 1], [3.0, 3.0])) is None  # one value
    with pytest.raises(ConfigError, match="lo < hi"):
        prediction_scale(ALSParams(rating_scale=(5.0, 5.0)), train)


def test_rmse_with_and_without_clipping_by_hand() -> None:
    # Actual 5 and 1 on a 1..5 scale; raw predictions 6 and 0.5 -> clipped 5 and 1.
    # Raw: errors 1 and 0.5 -> RMSE sqrt((1 + 0.25) / 2) = 0.790569; clipped: 0.
    train = _table([1, 2], [1, 2], [1.0, 5.0])
    valid = _table([1, 2], [2, 1], [5.0, 1.0])
    raw = FixedModel([6.0, 0.5])
    assert holdout_rmse(raw.predict(valid), valid[RATING])[0] == pytest.approx(0.790569, abs=1e-6)
    clipped = with_clipping(raw, train)
    assert isinstance(clipped, ClippedModel)
    assert clipped.params.rating_scale == (1.0, 5.0)
    assert holdout_rmse(clipped.predict(valid), valid[RATING])[0] == 0.0
    # With the clip off nothing changes; wrapping twice is a no-op.
    off = FixedModel([6.0, 0.5], ALSParams(clip_predictions=False))
    assert with_clipping(off, train) is off
    assert with_clipping(clipped, train) is clipped
    # Ranking uses the unclipped scores; release reaches the inner model.
    assert clipped.recommend(None, 1, None)[SCORE].tolist() == [9.5]
    clipped.release()
    assert raw.released


def test_evaluate_clips_a_model_that_was_fitted_without_it() -> None:
    # evaluate() is given a raw model (as `movierec evaluate` loads one): MAE by hand
    # = mean(|5 - 5|, |1 - 1|, |3 - 3.5|) = 0.5 / 3 after clipping 7 -> 5 and -1 -> 1.
    engine = LocalEngine()
    train = engine.data(_table([1, 1, 2, 2], [1, 2, 1, 2], [1.0, 5.0, 3.0, 4.0]))
    test = _table([1, 2, 1], [1, 2, 2], [5.0, 1.0, 3.0])
    result = evaluate(FixedModel([7.0, -1.0, 3.5]), train, test, with_baselines=False)
    assert result["mae"] == pytest.approx(0.5 / 3)
    assert result["rmse"] == pytest.approx(np.sqrt(0.25 / 3))


def test_local_engine_predictions_are_clipped_where_they_are_scored(ml_small: Path) -> None:
    df = pd.read_csv(ml_small / "ratings.csv").rename(columns={"userId": USER, "movieId": ITEM})
    df = df.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})
    train, test = random_split(df, 0.2, seed=42)
    engine = LocalEngine()
    handle = engine.data(train)
    params = ALSParams(model="als", rank=20, reg_param=0.02, max_iter=10)
    raw = engine.fit(handle, params).predict(test)
    clipped = fit_clipped(engine, handle, params).predict(test)
    ok = ~np.isnan(raw)
    assert (raw[ok] > 5.0).sum() > 0 and (raw[ok] < 0.5).sum() > 0  # the test can fail
    np.testing.assert_array_equal(clipped, np.clip(raw, 0.5, 5.0))
    rmse_raw = holdout_rmse(raw, test[RATING])[0]
    rmse_clip = holdout_rmse(clipped, test[RATING])[0]
    diff = np.clip(raw[ok], 0.5, 5.0) - test[RATING].to_numpy()[ok]
    assert rmse_clip == pytest.approx(float(np.sqrt(np.mean(diff**2))), rel=1e-12)
    assert rmse_clip < rmse_raw
    unclipped = fit_clipped(engine, handle, replace(params, clip_predictions=False))
    np.testing.assert_array_equal(unclipped.predict(test), raw)


def test_config_and_cli_flags() -> None:
    cfg = build_config(overrides={"als": {"rating_scale": [1, 5], "clip_predictions": False}})
    params = ALSParams.from_config(cfg.als, 1)
    assert params.rating_scale == (1.0, 5.0) and params.clip_predictions is False
    assert ALSParams(**params.to_dict() | {"rating_scale": [1, 5]}) == params  # JSON round trip
    with pytest.raises(ConfigError, match="lo < hi"):
        build_config(overrides={"als": {"rating_scale": [5, 1]}})
    from test_cli_options import capture

    result, flags_cfg = capture(["--no-clip", "--rating-scale", "0.5,5"])
    assert result.exit_code == 0 and flags_cfg is not None, result.output
    assert flags_cfg.als.clip_predictions is False and flags_cfg.als.rating_scale == (0.5, 5.0)
    result = CliRunner().invoke(cli, ["train", "--help"])
    assert "--no-clip" in result.output and "--rating-scale" in result.output
