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
from typing import Literal

from movierec.engines.base import ALSParams, Engine, EngineData, TrainedModel
from movierec.engines.frames import MODES as MODES  # re-exported
from movierec.engines.frames import to_interactions as to_interactions  # re-exported

log = logging.getLogger(__name__)

InteractionMode = Literal["rating", "all", "threshold"]


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
