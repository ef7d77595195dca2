"""``movierec.load_ratings``: one loader for every input, and a Spark DataFrame stays in Spark.

A path, a dataset name, a pandas DataFrame or a :class:`~movierec.config.DataConfig` go to
:func:`movierec.data.anyinput.load_ratings` (a pandas :class:`~movierec.data.LoadedRatings`).
A Spark DataFrame is validated by the Spark engine's reader on the executors
(:func:`movierec.engines.spark.reader.read_ratings`: the local reader's rules, reject
reasons, counts, duplicate policy and dense ids) and comes back as a
:class:`LoadedSparkRatings` whose ``ratings`` and ``rejects`` are Spark DataFrames; the driver
receives counts, a sample of at most 1,000 ids per text id column (to tell integer ids from
text keys) and nothing that grows with the number of ratings.

pyspark is imported only when a Spark DataFrame is given, so ``import movierec`` stays free
of it.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from movierec.config import DataConfig, SparkConfig
from movierec.data.anyinput import column_map, is_spark_frame
from movierec.data.anyinput import load_ratings as load_local
from movierec.data.report import LoadedRatings, LoadReport
from movierec.errors import ConfigError, DataError, EngineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from movierec.engines.spark.read_result import SparkRead

log = logging.getLogger(__name__)

SPARK_FRAME_SOURCE = "<Spark DataFrame>"
"""What the load report calls a Spark DataFrame source (pandas: ``<pandas DataFrame>``)."""


@dataclass
class LoadedSparkRatings:
    """Validated ratings of a Spark DataFrame, kept on the cluster.

    ``ratings``: ``user_id`` int, ``movie_id`` int, ``rating`` double and, when the source has
    one, ``timestamp`` long (dense ids as :class:`~movierec.data.LoadedRatings` has them;
    cached by Spark). ``rejects``: ``line`` (the 1-based row number in the frame's scan order:
    a Spark DataFrame has no index label), ``column``, ``reason``, ``raw`` (cached).
    ``report``: the :class:`~movierec.data.report.LoadReport` the pandas path gives for the
    same rows (``path`` is ``"<Spark DataFrame>"``, ``format`` ``"dataframe"``).
    ``user_ids`` / ``item_ids``: id tables (dense id, ``original``) when that column was
    remapped, else None. ``movies``: ``movie_id`` (same ids), ``title``, ``genres``, or None.

    :meth:`to_pandas` collects everything into a :class:`~movierec.data.LoadedRatings` (only
    when you want the rows in this process); :meth:`release` (or a ``with`` block) drops the
    cached frames and the temporary view the frame was read through.
    """

    ratings: DataFrame
    rejects: DataFrame
    report: LoadReport
    user_ids: DataFrame | None
    item_ids: DataFrame | None
    movies: DataFrame | None
    read: SparkRead
    """The Spark engine's read (its ``ratings`` table and ``catalog``), for the engine."""
    view: str
    """The temporary view the source frame was read through (dropped by :meth:`release`)."""

    def to_pandas(self) -> LoadedRatings:
        """Collect the ratings, rejects, id maps and titles into a pandas
        :class:`~movierec.data.LoadedRatings` (the rows pass through the driver: for data
        that fits in this process). Rejects are ordered by ``line``; ``ratings`` by user,
        then movie (Spark keeps no row order)."""
        from movierec.data.frames import spark_to_pandas
        from movierec.data.report import REJECT_COLUMNS
        from movierec.engines.spark.convert import to_pandas

        log.info("collecting %d validated ratings to pandas", self.report.rows_kept)
        ratings = to_pandas(self.ratings).sort_values(["user_id", "movie_id"], kind="stable")
        rejects = spark_to_pandas(self.rejects.select(*REJECT_COLUMNS)).sort_values(
            "line", kind="stable"
        )
        cat = self.read.catalog
        return LoadedRatings(
            ratings=ratings.reset_index(drop=True),
            rejects=rejects.reset_index(drop=True),
            report=self.report,
            user_ids=cat.user_ids,
            item_ids=cat.item_ids,
            movies=cat.movies,
        )

    def release(self) -> None:
        """Unpersist every cached frame of this load and drop its temporary view; the
        frames must not be used afterwards."""
        self.read.release()
        self.ratings.sparkSession.catalog.dropTempView(self.view)

    def __enter__(self) -> LoadedSparkRatings:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def load_spark_frame(
    df: Any,
    *,
    columns: dict[str, str] | None = None,
    movies: Any = None,
    rating_min: float | None = None,
    rating_max: float | None = None,
    duplicates: str = "latest",
    max_reject_fraction: float = 0.5,
) -> LoadedSparkRatings:
    """Validate the Spark DataFrame ``df`` on the executors (module docstring).

    ``columns`` maps canonical names to ``df``'s columns (the usual header names otherwise);
    the rating scale defaults to 0.5-5 as for a pandas DataFrame. ``movies``: a movies file
    or Hadoop URI (read by the executors), or a pandas or Spark DataFrame of titles (collected:
    bounded by the number of movies, not of ratings).

    Raises:
        ConfigError: bad options (unknown column keys, rating_min > rating_max, an unknown
            duplicate policy).
        DataError: a missing column, too many rejected rows, no valid row, a duplicate under
            ``duplicates="error"``, a bad movies table.
        EngineError: the Spark engine failed.
    """
    from movierec.engines import get_engine
    from movierec.engines.spark.read_result import SparkRead

    movies_path = movies if isinstance(movies, (str, Path)) else None
    try:
        cfg = DataConfig(
            table="pending",
            columns=dict(columns or {}),
            movies=movies_path,
            rating_min=0.5 if rating_min is None else float(rating_min),
            rating_max=5.0 if rating_max is None else float(rating_max),
            duplicates=duplicates,  # type: ignore[arg-type]
            max_reject_fraction=max_reject_fraction,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid load options: {exc}") from exc
    engine = get_engine("spark", spark=df.sparkSession)
    view = f"movierec_load_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(view)
    try:
        read = engine.read(cfg.model_copy(update={"table": view}))
    except BaseException as exc:
        df.sparkSession.catalog.dropTempView(view)
        if type(exc) is DataError:  # name the frame, not the private view
            raise DataError(
                exc.reason.replace(view, SPARK_FRAME_SOURCE),
                path=None if exc.path is None else exc.path.replace(view, SPARK_FRAME_SOURCE),
                line=exc.line,
                column=exc.column,
            ) from exc
        raise
    if not isinstance(read, SparkRead):
        raise EngineError(f"the Spark engine read a {type(read).__name__}, not a SparkRead")
    loaded, catalog = read.loaded, read.catalog
    titles = loaded.movies
    if movies is not None and movies_path is None:
        try:
            titles = _movies_frame(engine, movies, catalog.item_ids)
        except BaseException:
            read.release()
            df.sparkSession.catalog.dropTempView(view)
            raise
        catalog.movies_df = titles  # not collected yet: its ``movies`` now gives these
    report = dataclasses.replace(
        read.report,
        path=SPARK_FRAME_SOURCE,
        format="dataframe",
        encoding=None,
        movies_encoding=None,  # as the pandas path's report
    )
    read.report = report
    return LoadedSparkRatings(
        ratings=loaded.ratings,
        rejects=loaded.rejects,
        report=report,
        user_ids=loaded.user_ids,
        item_ids=loaded.item_ids,
        movies=titles,
        read=read,
        view=view,
    )


def _movies_frame(engine: Any, movies: Any, item_ids: Any) -> DataFrame:
    """A titles table given as a pandas or Spark DataFrame, canonicalised as the pandas path
    does (:func:`movierec.data.movies.movies_from_frame`, in the ratings' dense ids) and
    copied to Spark. Titles are bounded by movies, so they are collected.

    Raises:
        DataError: no movie id or title column, or no movies.
    """
    from movierec.data.frames import spark_to_pandas
    from movierec.data.movies import movies_from_frame
    from movierec.engines.spark.convert import to_spark

    frame = spark_to_pandas(movies) if is_spark_frame(movies) else pd.DataFrame(movies)
    return to_spark(engine.spark, movies_from_frame(frame, item_ids))


def load_ratings(
    source: Any,
    *,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    movies: Any = None,
    rating_min: float | None = None,
    rating_max: float | None = None,
    duplicates: str = "latest",
    max_reject_fraction: float = 0.5,
    spark: SparkConfig | None = None,
    keep_lines: bool = False,
) -> LoadedRatings | LoadedSparkRatings:
    """Load and validate ratings from ``source``, with the same rules, reject reasons and
    :class:`~movierec.data.report.LoadReport` whatever the input.

    ``source`` is a :class:`DataConfig` (used as it is), a path or Hadoop URI (a ratings file
    or a MovieLens folder), the name of a downloaded dataset (``"ml-latest-small"``), a
    pandas DataFrame or a Spark DataFrame. ``user_col`` … ``timestamp_col`` name the source
    columns (found by the usual header names otherwise). ``movies`` is a movies file or a
    pandas (or Spark) DataFrame of ``movieId``/``title``/``genres``. ``rating_min`` /
    ``rating_max`` bound valid ratings (None: the layout's scale, 0.5-5 for DataFrames).

    Everything but a Spark DataFrame gives a pandas :class:`~movierec.data.LoadedRatings`
    (:func:`movierec.data.anyinput.load_ratings`; a pandas reject's ``index`` is the row's
    index label, ``line`` its 1-based position). A Spark DataFrame stays in Spark: the result
    is a :class:`LoadedSparkRatings` (``ratings`` and ``rejects`` are Spark DataFrames
    validated by the executors; a reject's ``line`` is the 1-based row in scan order; call
    ``.to_pandas()`` to collect, ``.release()`` to free the cache). ``spark`` and
    ``keep_lines`` apply to files only.

    >>> import pandas as pd, movierec
    >>> df = pd.DataFrame({"u": [1, 2], "m": [10, 10], "stars": [4.0, 3.5]})
    >>> movierec.load_ratings(df, user_col="u", item_col="m", rating_col="stars").report.rows_kept
    2

    Raises:
        ConfigError: an unknown source type, or bad options.
        DataError / DatasetError: as :func:`movierec.data.anyinput.load_ratings` and
            :func:`load_spark_frame` say.
        EngineError: the Spark engine failed (a Spark DataFrame only).
    """
    if isinstance(source, LoadedSparkRatings):
        return source
    if is_spark_frame(source):
        return load_spark_frame(
            source,
            columns=column_map(user_col, item_col, rating_col, timestamp_col),
            movies=movies,
            rating_min=rating_min,
            rating_max=rating_max,
            duplicates=duplicates,
            max_reject_fraction=max_reject_fraction,
        )
    return load_local(
        source,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        timestamp_col=timestamp_col,
        movies=movies,
        rating_min=rating_min,
        rating_max=rating_max,
        duplicates=duplicates,
        max_reject_fraction=max_reject_fraction,
        spark=spark,
        keep_lines=keep_lines,
    )
