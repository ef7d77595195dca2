"""The ``[data]`` and ``[spark]`` sections of :mod:`movierec.config`: where the ratings come
from and how to read them, and how the one SparkSession is built.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from movierec.config._base import DataFormat, DuplicatePolicy, PathOrURI, _Section


class DataConfig(_Section):
    """Where the ratings come from and how to read and validate them."""

    path: PathOrURI | None = None
    """Ratings file or directory (a MovieLens release folder, a delimited file, or Parquet);
    local, or on any Hadoop-compatible filesystem (``hdfs://``, ``s3a://``; read through Spark)."""
    dataset: str | None = None
    """Name of a GroupLens release (``movierec datasets list``); used when ``path`` is not set."""
    table: str | None = None
    """A Spark SQL table (``db.ratings``, whatever the session's catalog holds), read with
    ``spark.table``; Spark engine only, and not together with ``path`` or ``dataset``."""
    movies: PathOrURI | None = None
    """Optional movies file with titles and genres (found inside a MovieLens folder)."""
    format: DataFormat = "auto"
    """File layout; ``auto`` detects MovieLens layouts and the delimiter of plain files."""
    sep: str | None = None
    """Separator of delimited text (``\\t``, ``,``, ``::``, ``whitespace``); None = detect."""
    header: bool | None = None
    """Whether delimited text has a header row; None = detect."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Map from canonical name (user_id, movie_id, rating, timestamp) to the source column name."""
    rating_min: float | None = None
    """Lowest valid rating; None = the layout's scale (0.5, or 1 for ml-100k/ml-1m)."""
    rating_max: float | None = None
    """Highest valid rating; None = 5.0."""
    duplicates: DuplicatePolicy = "latest"
    """What to do with repeated (user, movie) pairs: keep the latest by timestamp, the first or last
    in file order, their mean, or fail."""
    max_reject_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """A file with a larger share of malformed rows fails instead of loading."""
    encoding: str | None = None
    """Text encoding of ratings and movies, used strictly; None = detect (UTF-8, else cp1252,
    else Latin-1; see :mod:`movierec.data.textio`)."""

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("table must name a table, e.g. 'db.ratings'")
        return None if v is None else v.strip()

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.table is not None and (self.path is not None or self.dataset is not None):
            raise ValueError("give one ratings source: table, or path / dataset, not both")
        return self


class SparkConfig(_Section):
    """How the one SparkSession is built (see :func:`movierec.spark.get_spark`)."""

    master: str | None = None
    """Any Spark master URL (``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``, ...).
    None = ``local[*]``, or under ``spark-submit`` the master it was given."""
    remote: str | None = None
    """Spark Connect endpoint (``sc://host:15002``); when set, ``master`` is ignored."""
    app_name: str = "movierec"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(default=4, ge=1)
    """``spark.sql.shuffle.partitions``: small on one machine, larger on a cluster."""
    checkpoint_dir: str | None = None
    """Checkpoint directory for long ALS runs; None = a temporary folder removed at exit."""
    ui: bool = False
    log_level: str = "ERROR"
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra ``spark.*`` settings passed through verbatim (``--conf key=value``)."""
    topn_block_size: int = Field(default=2048, ge=1)
    """Users (and movies) per block of the Spark engine's distributed top-N: one task scores
    one user block against one movie block, holding a few ``topn_block_size``² float64
    matrices (32 MB each at 2048). Results do not depend on it."""
