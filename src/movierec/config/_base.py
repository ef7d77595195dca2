"""What every section of :mod:`movierec.config` shares: the strict base model, the seed, and
the value types (the allowed data formats, duplicate policies, model kinds, solvers, and a
local path or Hadoop URI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from movierec.paths import path_or_uri

DEFAULT_SEED = 42

DataFormat = Literal["auto", "ml-100k", "ml-dat", "ml-csv", "delimited", "parquet"]
DuplicatePolicy = Literal["latest", "first", "last", "mean", "error"]
ModelKind = Literal["als", "biased-als", "implicit-als", "ials", "ease"]
ImplicitSolver = Literal["cg", "cholesky"]
PathOrURI = Annotated[Path | str, BeforeValidator(path_or_uri)]
"""A local path, or a Hadoop URI (``hdfs://``, ``s3a://`` …) kept as a string; see hadoopfs."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
