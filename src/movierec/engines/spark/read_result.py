"""What the Spark engine's ``read`` returns: the validated ratings as a Spark table, the
catalogue (movies and id maps as Spark tables), the load report, and the rejects written by
the executors on request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from movierec.engines.base import EngineData, Loaded
from movierec.engines.spark.table import SparkCatalog, SparkData, SparkEngine
from movierec.schema import ITEM, USER

if TYPE_CHECKING:
    from movierec.engines.spark.reader import SparkLoaded


class SparkRead(Loaded):
    """Part A's read result as the contract's :class:`Loaded`."""

    ratings: SparkData
    catalog: SparkCatalog

    def __init__(self, engine: SparkEngine, loaded: SparkLoaded) -> None:
        self.engine = engine
        self.loaded = loaded
        self.ratings = SparkData(engine, loaded.ratings)
        self.report = loaded.report
        self.catalog = SparkCatalog(engine, loaded.movies, loaded.user_ids, loaded.item_ids)

    def aligned(
        self,
        user_ids: np.ndarray | None,
        item_ids: np.ndarray | None,
        known_users: np.ndarray,
        known_items: np.ndarray,
    ) -> EngineData:
        """The ratings in a model's ids, joined on the cluster (:mod:`.align`)."""
        from movierec.engines.spark.align import align_column

        df = self.ratings.df
        cat = self.catalog
        for col, model_map, test_map, known in (
            (USER, user_ids, cat.user_ids_df, known_users),
            (ITEM, item_ids, cat.item_ids_df, known_items),
        ):
            if model_map is not None or test_map is not None:
                df = align_column(self.engine.spark, df, col, test_map, model_map, known)
        return self.ratings.wrap(df)

    def write_rejects(self, folder: Path) -> list[str]:
        """The rejects, written by the executors (Parquet parts, plus CSV when small)."""
        from movierec.engines.spark.write import write_rejects

        if self.rejected == 0:
            return []
        written = write_rejects(self.loaded.rejects, Path(folder))
        return [uri.rstrip("/").rsplit("/", 1)[-1] for uri in written]

    def release(self) -> None:
        """Unpersist the ratings and every table the read cached (rejects, id maps)."""
        super().release()
        self.loaded.unpersist()


__all__ = ["SparkRead"]
