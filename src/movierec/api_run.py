"""``movierec.run``: the whole brief (EDA, splits, tuning, evaluation, top-N, model, report
data) from a notebook, on a DataFrame or a path, returning a typed :class:`RunResult`.

A pandas DataFrame is written to a private Parquet file (a Spark DataFrame by Spark's own
writer, so its rows never pass through this process) and read back by the run's loader,
so it gets exactly the validation and reject accounting of a file (``rejects.csv`` names
the 1-based row). Everything is also written under ``out`` as ``movierec run`` writes it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from movierec.api_results import RunResult
from movierec.config import RunConfig, build_config
from movierec.data.anyinput import column_map, is_spark_frame
from movierec.data.frames import spark_to_pandas
from movierec.errors import ConfigError
from movierec.progress import Reporter


def _stage(data: Any, folder: Path) -> str:
    """``data`` as a Parquet file or folder under ``folder``; its path."""
    if isinstance(data, pd.DataFrame):
        target = folder / "ratings.parquet"
        frame = data.set_axis([str(c) for c in data.columns], axis=1).reset_index(drop=True)
        frame.to_parquet(target, index=False)
        return str(target)
    target = folder / "ratings_parquet"
    data.write.parquet(target.as_uri())
    return str(target)


def _stage_movies(movies: Any, folder: Path) -> str | None:
    if movies is None:
        return None
    if is_spark_frame(movies):
        movies = spark_to_pandas(movies)  # titles only: small
    if isinstance(movies, pd.DataFrame):
        target = folder / "movies.csv"
        movies.to_csv(target, index=False)
        return str(target)
    return str(movies)


def _read_lists(out: Path) -> pd.DataFrame:
    parquet = out / "recommendations.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet)
    csv = out / "recommendations.csv"
    return pd.read_csv(csv) if csv.exists() else pd.DataFrame()


def run(
    data: Any,
    out: str | Path,
    *,
    engine: str = "local",
    movies: Any = None,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    reporter: Reporter | None = None,
    progress: bool = False,
    **overrides: Any,
) -> RunResult:
    """Run the whole brief on ``data`` and write it to ``out`` (as ``movierec run`` does).

    ``data``: a :class:`~movierec.config.RunConfig` (used as it is), a path, a dataset name,
    or a pandas / Spark DataFrame (column names as ``user_col`` …). ``overrides`` are
    config sections as in :func:`~movierec.config.build_config` (e.g.
    ``tuning={"ranks": [8]}``). Returns the summary, the recommendation lists and the final
    model (a :class:`~movierec.Recommender` loaded from ``out/model``). ``progress=True``
    shows a progress bar per stage in a notebook or terminal (one line per finished stage
    elsewhere); ``reporter`` takes any :class:`~movierec.progress.Reporter` instead.

    >>> result = movierec.run(ratings_df, "out", tuning={"ranks": [8]})  # doctest: +SKIP
    >>> result.test.to_frame()                                           # doctest: +SKIP

    Raises:
        MovierecError: bad data or config, or an engine failure.
    """
    from movierec.pipeline import run as run_pipeline
    from movierec.recommender import Recommender

    with tempfile.TemporaryDirectory(prefix="movierec-run-input-") as tmp:
        if isinstance(data, RunConfig):
            cfg = data
        else:
            staged = Path(tmp)
            columns = column_map(user_col, item_col, rating_col, timestamp_col)
            frame = isinstance(data, pd.DataFrame) or is_spark_frame(data)
            if frame:
                source: dict[str, Any] = {"path": _stage(data, staged), "format": "parquet"}
            elif isinstance(data, (str, Path)):
                text = str(data)
                is_name = isinstance(data, str) and "/" not in text and not Path(text).exists()
                source = {"dataset": text} if is_name else {"path": text}
            else:
                raise ConfigError(
                    f"cannot run on a {type(data).__name__}: give a DataFrame, a path or a "
                    "RunConfig"
                )
            data_section = {
                **source,
                "columns": columns,
                "movies": _stage_movies(movies, staged),
                **overrides.pop("data", {}),
            }
            cfg = build_config(overrides={"engine": engine, "data": data_section, **overrides})
        if reporter is None and progress:
            from movierec.console import notebook_reporter

            reporter = notebook_reporter()
        summary = run_pipeline(cfg, out, reporter)
    folder = Path(out)
    model = Recommender.load(folder / "model")
    return RunResult(summary, folder, _read_lists(folder), model)
