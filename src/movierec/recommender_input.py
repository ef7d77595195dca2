"""How a :class:`~movierec.recommender.Recommender` gets its engine, parameters and training
table: the engine from a name or a SparkSession, per-kind defaults from the one config
source, a Spark DataFrame (or a :class:`~movierec.LoadedSparkRatings`) validated on the
executors, and the fitted state it keeps."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.api_load import LoadedSparkRatings
from movierec.config import ALSConfig
from movierec.data.anyinput import is_spark_frame
from movierec.data.frames import spark_to_pandas
from movierec.engines import ALSParams, Engine, EngineData, TrainedModel, get_engine
from movierec.errors import ConfigError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER

if TYPE_CHECKING:
    pass

log = logging.getLogger("movierec.recommender")

SCORER_KINDS = ("als", "biased-als", "implicit-als")
"""Kinds the service's scorer serves (similar movies, fold-in); ``ials`` folds in through
:func:`movierec.ials.fold_in` instead."""


@dataclass
class _Catalogue:
    """Titles and original ids of the training data (dense ids -> originals)."""

    movies: pd.DataFrame | None
    user_ids: np.ndarray | None
    item_ids: np.ndarray | None


@dataclass
class _Fitted:
    engine: Engine
    handle: EngineData
    """The training ratings where the engine holds them (Spark: on the cluster)."""
    model: TrainedModel
    loaded: _Catalogue
    _factors: Any = None

    def factors(self) -> Any:
        """The model's factors (collected once on Spark: bounded by users and movies)."""
        if self._factors is None:
            self._factors = self.model.factors()
        return self._factors


def _params(kind: str, seed: int, params: dict[str, Any]) -> ALSParams:
    try:
        cfg = ALSConfig(model=kind, **params)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"invalid {kind} parameters: {exc}") from exc
    return ALSParams.from_config(cfg, seed)


def _col_args(columns: dict[str, str]) -> dict[str, str]:
    """``{"user_col": …}`` keyword arguments of :func:`load_ratings` from a column map."""
    names = {USER: "user_col", ITEM: "item_col", RATING: "rating_col", TIMESTAMP: "timestamp_col"}
    return {names[c]: v for c, v in columns.items()}


def _read_on_spark(
    engine: Engine, ratings: Any, columns: dict[str, str], movies: Any
) -> tuple[EngineData, _Catalogue]:
    """A Spark DataFrame read and validated by the Spark engine's reader on the executors
    (through a temporary view; the rows never reach the driver), with its titles."""
    import uuid

    from movierec.config import DataConfig

    view = f"movierec_ratings_{uuid.uuid4().hex[:12]}"
    ratings.createOrReplaceTempView(view)
    movies_path = movies if isinstance(movies, (str, Path)) else None
    read = engine.read(DataConfig(table=view, columns=columns, movies=movies_path))
    cat = read.catalog
    titles = cat.movies
    if movies is not None and movies_path is None:
        from movierec.data.movies import movies_from_frame

        frame = spark_to_pandas(movies) if is_spark_frame(movies) else pd.DataFrame(movies)
        titles = movies_from_frame(frame, cat.item_ids)
    return read.ratings, _Catalogue(titles, cat.user_ids, cat.item_ids)


def _borrow_spark_load(engine: Engine, loaded: LoadedSparkRatings) -> tuple[EngineData, _Catalogue]:
    """The validated ratings of ``loaded`` as the Spark engine's training table, borrowed:
    still cached by ``loaded`` (its ``release`` frees them, the Recommender's ``close`` does
    not); titles and id maps collected from its catalogue (bounded by users and movies).

    Raises:
        ConfigError: ``loaded`` was read in another SparkSession than the engine's.
    """
    from movierec.engines.spark.table import SparkData

    if getattr(engine, "spark", None) is not loaded.ratings.sparkSession:
        raise ConfigError(
            "the loaded ratings belong to another SparkSession than the Recommender's engine: "
            "give Recommender(engine=spark) the session they were loaded in"
        )
    cat = loaded.read.catalog
    handle = SparkData(engine, loaded.ratings, owned=False)  # type: ignore[arg-type]
    return handle, _Catalogue(cat.movies, cat.user_ids, cat.item_ids)


def _present(columns: dict[str, str], names: list[str]) -> dict[str, str]:
    """The entries of ``columns`` whose source column is among ``names``."""
    return {canon: col for canon, col in columns.items() if col in names}


def _engine(engine: Any) -> Engine:
    if isinstance(engine, Engine):
        return engine
    if isinstance(engine, str):
        return get_engine(engine)
    if type(engine).__name__ == "SparkSession":
        return get_engine("spark", spark=engine)
    raise ConfigError(f"engine must be 'local', 'spark' or a SparkSession, not {engine!r}")
