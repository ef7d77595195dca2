"""Spark's ALSModel folder layout written and read with pyarrow (no Spark): what
``ALSModel.write().save()`` and ``SparkBiases.save`` write, so a local model loads on the
Spark engine and a Spark model on the local engine."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.errors import ModelError
from movierec.schema import I_BIAS, ITEM, U_BIAS, USER

if TYPE_CHECKING:
    pass

_SPARK_FACTOR_SCHEMA = json.dumps(
    {
        "type": "struct",
        "fields": [
            {"name": "id", "type": "integer", "nullable": False, "metadata": {}},
            {
                "name": "features",
                "type": {"type": "array", "elementType": "float", "containsNull": False},
                "nullable": True,
                "metadata": {},
            },
        ],
    },
    separators=(",", ":"),
)


def _spark_version() -> str:
    try:
        from importlib.metadata import version

        return version("pyspark")
    except Exception:  # not installed: any 3.x/4.x reader accepts these keys
        return "4.0.0"


def _write_parquet_folder(folder: Path, table: Any) -> None:
    """One snappy Parquet part file plus ``_SUCCESS``, named like Spark's output."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(table, folder / name, compression="snappy")
    (folder / "_SUCCESS").write_bytes(b"")


def _factor_table(ids: np.ndarray, factors: np.ndarray, spark_version: str) -> Any:
    import pyarrow as pa

    n, k = factors.shape
    element = pa.field("element", pa.float32(), nullable=False)
    features = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)),
        pa.array(np.ascontiguousarray(factors, dtype=np.float32).reshape(-1)),
        type=pa.list_(element),
    )
    schema = pa.schema(
        [pa.field("id", pa.int32(), nullable=False), pa.field("features", pa.list_(element))],
        metadata={
            "org.apache.spark.version": spark_version,
            "org.apache.spark.sql.parquet.row.metadata": _SPARK_FACTOR_SCHEMA,
        },
    )
    return pa.Table.from_arrays([pa.array(ids.astype(np.int32)), features], schema=schema)


def write_spark_als(
    folder: Path,
    rank: int,
    user_ids: np.ndarray,
    user_factors: np.ndarray,
    item_ids: np.ndarray,
    item_factors: np.ndarray,
) -> None:
    """An ALSModel folder as ``ALSModel.write().save()`` writes it (Spark 3.x/4.x)."""
    version = _spark_version()
    meta = {
        "class": "org.apache.spark.ml.recommendation.ALSModel",
        "timestamp": int(time.time() * 1000),
        "sparkVersion": version,
        "uid": f"ALS_{uuid.uuid4().hex[:12]}",
        "paramMap": {
            "blockSize": 4096,
            "coldStartStrategy": "nan",
            "itemCol": ITEM,
            "userCol": USER,
        },
        "defaultParamMap": {
            "blockSize": 4096,
            "coldStartStrategy": "nan",
            "itemCol": "item",
            "predictionCol": "prediction",
            "userCol": "user",
        },
        "rank": int(rank),
    }
    (folder / "metadata").mkdir(parents=True)
    line = json.dumps(meta, separators=(",", ":")) + "\n"
    (folder / "metadata" / "part-00000").write_text(line, encoding="utf-8")
    (folder / "metadata" / "_SUCCESS").write_bytes(b"")
    _write_parquet_folder(folder / "userFactors", _factor_table(user_ids, user_factors, version))
    _write_parquet_folder(folder / "itemFactors", _factor_table(item_ids, item_factors, version))


def write_spark_biases(
    folder: Path,
    mean: float,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    ub: np.ndarray,
    ib: np.ndarray,
) -> None:
    """mean.json, user_bias/ and item_bias/ Parquet, as ``SparkBiases.save`` writes them."""
    import pyarrow as pa

    folder.mkdir(parents=True)
    (folder / "mean.json").write_text(json.dumps({"mean": mean}), encoding="utf-8")
    for sub, key, col, ids, values in (
        ("user_bias", USER, U_BIAS, user_ids, ub),
        ("item_bias", ITEM, I_BIAS, item_ids, ib),
    ):
        table = pa.table(
            {key: pa.array(ids.astype(np.int32)), col: pa.array(values.astype(np.float64))}
        )
        _write_parquet_folder(folder / sub, table)


def read_spark_factors(folder: Path, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, factors) of an ALSModel ``userFactors``/``itemFactors`` folder, sorted by id
    (int32, float32 rows × ``rank``).

    Raises:
        ModelError: a factor vector is not of length ``rank``.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(folder)
    ids = table.column("id").to_numpy().astype(np.int32)
    lists = table.column("features").combine_chunks()
    offsets = lists.offsets.to_numpy()
    if len(ids) and not np.all(np.diff(offsets) == rank):
        raise ModelError(f"{folder}: factors are not all of length {rank}")
    flat = lists.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    mat = flat.reshape(len(ids), rank)
    order = np.argsort(ids, kind="stable")
    return ids[order], mat[order]


__all__ = ["read_spark_factors", "write_spark_als", "write_spark_biases"]
