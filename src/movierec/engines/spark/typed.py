"""Typed ratings sources parsed on the executors: Parquet, ORC, JSON lines and SQL tables.

Columns are found by name like the local Parquet reader does (``data.columns``, else the
header aliases of :mod:`movierec.data.detect`); cells follow the typed rules of
:mod:`movierec.engines.spark.cells`; rows are numbered 1.. over all files in path order (a
table in scan order). A malformed JSON record is a ``wrong_field_count`` reject.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from movierec import schema
from movierec.config import DataConfig
from movierec.data.detect import HEADER_ALIASES, id_kind, norm_name
from movierec.engines.spark import cells as C
from movierec.engines.spark.numbering import FILE, LINE, ORD, number_rows, scan_columns
from movierec.engines.spark.parsed import PREFIX, Parsed, cell_columns
from movierec.engines.spark.source import Located
from movierec.errors import DataError

CORRUPT = "_corrupt_record"
_WHAT = {"parquet": "Parquet", "orc": "ORC", "json": "JSON", "table": "table"}
_KIND_SAMPLE = 1000


def map_columns(names: list[str], columns: dict[str, str], what: str, shown: str) -> dict[str, str]:
    """Canonical column → source column, like the local Parquet reader's mapping: the
    ``columns`` given first (in their order), then the header aliases.

    Raises:
        DataError: a named column is absent, or user, movie or rating cannot be found.
    """
    found: dict[str, str] = {}
    for canon, wanted in columns.items():
        if wanted not in names:
            raise DataError(
                f"column {wanted!r} (for {canon}) is not in the {what} columns {names}",
                path=shown,
            )
        found[canon] = wanted
    for canon in schema.RATING_COLUMNS:
        if canon in found:
            continue
        for n in names:
            if n == canon or norm_name(n) in HEADER_ALIASES[canon]:
                found[canon] = n
                break
    missing = [c for c in (schema.USER, schema.ITEM, schema.RATING) if c not in found]
    if missing:
        raise DataError(
            f"cannot find the {', '.join(missing)} column(s) among the {what} columns "
            f"{names}; set data.columns",
            path=shown,
        )
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def load_frame(spark: SparkSession, loc: Located) -> DataFrame:
    """The DataFrame of a typed source (lazy: only the schema is resolved).

    Raises:
        DataError: no such table, or the files are not readable in their format.
    """
    try:
        if loc.kind == "table":
            return spark.table(loc.uri)
        reader = spark.read
        if loc.kind == "json":
            reader = reader.option("mode", "PERMISSIVE").option(
                "columnNameOfCorruptRecord", CORRUPT
            )
        df = reader.format(loc.kind).load(loc.uri)
        _ = df.columns  # resolves the schema now (Spark Connect defers it)
        return df
    except Exception as exc:  # AnalysisException (classic or Connect), Java errors
        if loc.kind == "table":
            raise DataError(
                f"no table {loc.uri!r} in the Spark catalog ({_first_line(exc)})"
            ) from None
        raise DataError(
            f"not a readable {_WHAT[loc.kind]} file or folder: {_first_line(exc)}", path=loc.shown
        ) from exc


def _has_metadata(df: DataFrame) -> bool:
    """Whether ``df`` is a file scan with Spark's ``_metadata`` column (tables over files
    are; others are numbered by Spark partition). A frame that reads no file (a DataFrame
    built in memory, a JDBC table) is answered without the probe, whose analysis error
    pyspark would log at ERROR level with a stack trace although it is expected here."""
    try:
        if not df.inputFiles():
            return False
        df.select("_metadata.file_path", "_metadata.file_block_start").schema  # noqa: B018
    except Exception:  # AnalysisException, classic or Connect
        return False
    return True


def _q(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def parse_typed(spark: SparkSession, loc: Located, cfg: DataConfig, lo: float, hi: float) -> Parsed:
    """Parse the typed source at ``loc`` into a :class:`Parsed` frame (lazy; runs a small
    job per text id column to sample its kind, and the numbering job).

    Raises:
        DataError: unreadable source, missing columns, or a column type that cannot hold
            its values (dates for ids, structs, arrays).
    """
    df = load_frame(spark, loc)
    what = _WHAT[loc.kind]
    names = [c for c in df.columns if c != CORRUPT]
    mapping = map_columns(names, cfg.columns, what, loc.shown)
    source_cols = list(dict.fromkeys(mapping.values()))
    types = {f.name: f.dataType for f in df.schema.fields}
    kinds: dict[str, str] = {}
    for canon in (schema.USER, schema.ITEM):
        src = mapping[canon]
        if isinstance(types[src], T.StringType):
            head = df.select(_q(src)).limit(_KIND_SAMPLE).collect()
            kinds[canon] = id_kind([str(r[0]).strip() for r in head if r[0] is not None])
        else:
            kinds[canon] = "int"
    corrupt = CORRUPT in df.columns and loc.kind == "json"
    keep = source_cols + ([CORRUPT] if corrupt else [])
    scan = df.select(*[_q(c) for c in keep], *scan_columns(table=not _has_metadata(df)))
    numbered = number_rows(spark, scan, per_file=False)
    has_ts = schema.TIMESTAMP in mapping
    canons = [c for c in schema.RATING_COLUMNS if c in mapping]
    texty = {c for c in canons if C.is_text(types[mapping[c]])}
    raw = F.concat_ws(
        ", ", *[F.concat(F.lit(f"{c}="), C.py_repr(_q(c), types[c])) for c in source_cols]
    )
    wrong = _q(CORRUPT).isNotNull() if corrupt else F.lit(False)
    base = [LINE, ORD, FILE, "_skip", "_wrong", "_bad_enc", "_raw"]
    s1 = numbered.df.select(
        F.col(LINE),
        F.col(ORD),
        F.col(FILE),
        F.lit(False).alias("_skip"),
        wrong.alias("_wrong"),
        F.lit(False).alias("_bad_enc"),
        (F.when(wrong, _q(CORRUPT)).otherwise(raw) if corrupt else raw).alias("_raw"),
        *[_q(mapping[c]).alias(f"{PREFIX[c]}_v") for c in canons if c not in texty],
        *[
            col
            for c in canons
            if c in texty
            for col in C.stage_text(C.text_source(_q(mapping[c]), types[mapping[c]]), PREFIX[c])
        ],
    )
    s2 = s1.select(
        *base,
        *[f"{PREFIX[c]}_v" for c in canons if c not in texty],
        *[
            col
            for c in canons
            if c in texty
            for col in C.stage_number(PREFIX[c], kinds.get(c) == "str")
        ],
    )

    def cell(canon: str) -> C.Cell:
        p, src = PREFIX[canon], mapping[canon]
        v, dtype = F.col(f"{p}_v"), types[src]
        if canon in (schema.USER, schema.ITEM):
            if canon not in texty:
                return C.typed_id(v, dtype, src)
            return C.text_str_id(p) if kinds[canon] == "str" else C.text_int_id(p)
        if canon == schema.RATING:
            return (
                C.text_rating(p, lo, hi)
                if canon in texty
                else C.typed_rating(v, dtype, src, lo, hi)
            )
        return C.text_timestamp(p) if canon in texty else C.typed_timestamp(v, dtype, src)

    out = s2.select(*base, *cell_columns({c: cell(c) for c in canons}))
    return Parsed(
        out,
        mapping,
        has_ts,
        kinds[schema.USER],
        kinds[schema.ITEM],
        loc.kind if loc.kind != "parquet" else "parquet",
        numbered.files,
    )
