"""What counts as an interaction for implicit-feedback ALS (``implicit-als``).

Spark's implicit ALS reads a value r per (user, movie) pair: preference p = 1 when r > 0,
confidence c = 1 + alpha·|r|. Explicit star ratings can be turned into such values in three
ways (``[interactions] mode``):

* ``rating`` (default, Spark's own behaviour): r = the raw rating, so a 5-star rating gets
  confidence 1 + 5·alpha and a 1-star rating 1 + alpha;
* ``all``: every rating is one interaction, r = 1 (confidence 1 + alpha for all);
* ``threshold``: only ratings >= the threshold are interactions (r = 1); lower ratings are
  not given to the model at all.

The transform applies only to what the model is *fitted* on. Movies a user rated below the
threshold are still *seen*: callers keep excluding them from that user's recommendations by
passing the untransformed ratings as ``exclude`` (see :func:`fit_model`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError
from movierec.schema import RATING

if TYPE_CHECKING:
    from movierec.engines.base import ALSParams, Engine, EngineData, TrainedModel

log = logging.getLogger(__name__)

InteractionMode = Literal["rating", "all", "threshold"]
MODES: tuple[str, ...] = ("rating", "all", "threshold")


def to_interactions(
    ratings: pd.DataFrame, mode: str = "rating", threshold: float = 3.0
) -> pd.DataFrame:
    """The table implicit ALS is fitted on, derived from explicit ``ratings`` (a new frame).

    Args:
        ratings: canonical ratings (USER, ITEM, RATING, optional TIMESTAMP).
        mode: ``rating`` (values unchanged), ``all`` (every value 1.0) or ``threshold``
            (rows with rating >= ``threshold`` kept with value 1.0, the others dropped).
        threshold: the cut-off of ``threshold`` mode, in rating units.

    Returns:
        The same columns; RATING is float64. ``rating`` mode returns ``ratings`` itself.

    Raises:
        ConfigError: an unknown mode or a non-finite threshold.
        DataError: ``threshold`` mode leaves no interaction.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown interactions mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "rating":
        return ratings
    if mode == "all":
        return ratings.assign(**{RATING: np.float64(1.0)})
    if not np.isfinite(threshold):
        raise ConfigError(f"interaction threshold must be a finite number, got {threshold}")
    kept = ratings.loc[ratings[RATING].to_numpy() >= threshold]
    if kept.empty:
        raise DataError(
            f"no rating is >= the interaction threshold {threshold}; "
            "lower --interaction-threshold or use --interactions rating"
        )
    log.debug("interactions: %d of %d ratings are >= %g", len(kept), len(ratings), threshold)
    return kept.assign(**{RATING: np.float64(1.0)}).reset_index(drop=True)


def fit_model(
    engine: Engine,
    handle: EngineData,
    params: ALSParams,
    mode: str = "rating",
    threshold: float = 3.0,
) -> TrainedModel:
    """Fit ``params`` on ``handle``'s ratings, as interactions when the model is implicit.

    Explicit models, and ``implicit-als`` in ``rating`` mode, are fitted on ``handle`` itself.
    Otherwise on the transformed table, derived on the engine (:meth:`EngineData.interactions`)
    and released before returning (a fitted model does not depend on its input). Callers keep
    ``handle`` (all the ratings) as ``exclude`` when recommending, so sub-threshold movies stay
    excluded.

    Raises:
        ConfigError, DataError: see :func:`to_interactions`; engine errors pass through.
    """
    if not params.implicit or mode == "rating":
        return engine.fit(handle, params)
    with handle.interactions(mode, threshold) as table:
        return engine.fit(table, params)
