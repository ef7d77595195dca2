"""Movie titles and genres read by Spark, with the ratings' id mapping.

The three MovieLens layouts of :func:`movierec.data.movies.load_movies` (``u.item``,
``movies.dat``, ``movies.csv``), parsed the same way: malformed lines skipped, ids parsed
with the integer-id rule (or matched as text keys when the ratings' ids were text),
movies the ratings never mention dropped when ids were remapped, repeated ids after the
first skipped, titles and genres stripped. One small job counts what was skipped (the
movies table grows with the catalogue, never with the ratings).
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from movierec import schema
from movierec.data import rules
from movierec.data.movies import (
    _GENRE_NAMES,
    _ID_NAMES,
    _TITLE_NAMES,
    ML100K_GENRES,
    MOVIES_FORMATS,
)
from movierec.data.textio import BOM
from movierec.engines.spark import cells as C
from movierec.engines.spark.encoding import (
    MIXED_HINT,
    charset,
    choose_encoding,
    decode,
    invalid,
    scan_encoding,
)
from movierec.engines.spark.ids import ORIGINAL
from movierec.engines.spark.numbering import FILE, LINE, ORD
from movierec.engines.spark.source import list_files, read_head
from movierec.engines.spark.text import check_not_binary, encoding_error
from movierec.errors import DataError
from movierec.hadoopfs import is_remote

logger = logging.getLogger(__name__)


def movies_format(uri: str) -> str:
    """The movies layout from the file name (``u.item``, ``*.dat``, else CSV)."""
    name = PurePosixPath(urlsplit(uri).path if is_remote(uri) else uri).name
    if name == "u.item":
        return "ml-100k"
    return "ml-dat" if name.lower().endswith(".dat") else "ml-csv"


def _lines(spark: SparkSession, uri: str, cs: str) -> DataFrame:
    """The non-blank lines of ``uri`` decoded in charset ``cs``; LF, CRLF and a lone CR
    each end a line (Hadoop's default line reader), as :func:`decode_all` reads them."""
    text = decode(F.col("value").cast("binary"), cs)
    line = F.regexp_replace(text, "\\A\\uFEFF", "")
    return (
        spark.read.text(uri)
        .select(line.alias("line"), F.monotonically_increasing_id().alias("_pos"))
        .where(C.strip_text(F.col("line")) != "")
    )


def movies_encoding(spark: SparkSession, uri: str, shown: str, declared: str | None) -> str:
    """The encoding the movies file ``uri`` is decoded with, as
    :func:`movierec.data.textio.decode_all` decides it for the local reader: ``declared``
    (``data.encoding``) when set, else detected by one aggregation on the executors
    (:mod:`movierec.engines.spark.encoding`).

    Raises:
        DataError: the file is not valid text in ``declared``, or mixes UTF-8 with
            another encoding (names the line and quotes the bytes, like the local reader).
    """
    lines = spark.read.text(uri).select(
        F.col("value").cast("binary").alias("_data"),
        F.monotonically_increasing_id().alias(ORD),
    )
    bom = read_head(spark, uri, 3, keep_bom=True)[0] == BOM
    if declared:
        bad = lines.where(invalid(F.col("_data"), charset(declared))).agg(F.min(ORD)).first()
        if bad is None or bad[0] is None:
            return declared
        codec = "utf-8" if declared == "utf-8-sig" else declared
        raise _line_error(lines, int(bad[0]), shown, codec, declared, "set data.encoding")
    scanned = scan_encoding(lines, "_data", ORD)
    enc = choose_encoding(scanned, bom)
    if enc is None:
        assert scanned.first_bad is not None
        raise _line_error(lines, scanned.first_bad, shown, "utf-8", "UTF-8", MIXED_HINT)
    return enc


def _line_error(
    lines: DataFrame, pos: int, shown: str, codec: str, label: str, hint: str
) -> DataError:
    """:func:`~movierec.engines.spark.text.encoding_error` for the movies line at position
    ``pos`` (its line number counted by one small job)."""
    before = lines.where(F.col(ORD) < pos).count()
    numbered = lines.select(
        (F.col(ORD) - F.lit(pos) + F.lit(before + 1)).alias(LINE),
        ORD,
        F.lit("").alias(FILE),
        "_data",
    )
    return encoding_error(numbered, pos, shown, codec, label, hint)


def _parse_100k(spark: SparkSession, uri: str, cs: str) -> DataFrame:
    parts = F.split("line", "\\|", -1)
    n, k = F.size(parts), len(ML100K_GENRES)
    flags = F.slice(parts, F.greatest(n - k + 1, F.lit(1)), k)
    genres = F.concat_ws(
        "|",
        *[
            F.when(C.strip_text(F.get(flags, j)) == "1", F.lit(g))
            for j, g in enumerate(ML100K_GENRES)
        ],
    )
    title = F.array_join(F.slice(parts, F.lit(2), F.greatest(n - k - 4, F.lit(0))), "|")
    ok = n >= 5 + k
    return _lines(spark, uri, cs).select(
        ok.alias("_ok"),
        F.get(parts, 0).alias("id"),
        F.when(ok, title).alias(schema.TITLE),
        F.when(ok, genres).alias(schema.GENRES),
        "_pos",
    )


def _parse_dat(spark: SparkSession, uri: str, cs: str) -> DataFrame:
    parts = F.split("line", "::", -1)
    n = F.size(parts)
    ok = n >= 3
    return _lines(spark, uri, cs).select(
        ok.alias("_ok"),
        F.get(parts, 0).alias("id"),
        F.when(ok, F.array_join(F.slice(parts, F.lit(2), F.greatest(n - 2, F.lit(0))), "::")).alias(
            schema.TITLE
        ),
        F.when(ok, F.get(parts, n - 1)).alias(schema.GENRES),
        "_pos",
    )


def _pick(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {n.strip().lstrip("\ufeff").lower(): n for n in names}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _parse_csv(spark: SparkSession, uri: str, cs: str, shown: str) -> DataFrame:
    df = (
        spark.read.option("header", True)
        .option("multiLine", True)
        .option("escape", '"')
        .option("encoding", cs)
        .csv(uri)
    )
    names = list(df.columns)
    id_col, title_col = _pick(names, _ID_NAMES), _pick(names, _TITLE_NAMES)
    if id_col is None or title_col is None:
        shown_names = [n.lstrip("\ufeff") for n in names]
        raise DataError(
            f"the movies file needs a movie id and a title column; header is {shown_names}",
            path=shown,
        )
    genre_col = _pick(names, _GENRE_NAMES)

    def q(n: str) -> Column:
        return F.coalesce(F.col("`" + n.replace("`", "``") + "`"), F.lit(""))

    return df.select(
        F.lit(True).alias("_ok"),
        q(id_col).alias("id"),
        q(title_col).alias(schema.TITLE),
        (q(genre_col) if genre_col is not None else F.lit("")).alias(schema.GENRES),
        F.monotonically_increasing_id().alias("_pos"),
    )


def _exists(spark: SparkSession, uri: str, shown: str) -> None:
    if not is_remote(uri):
        local = Path(urlsplit(uri).path) if uri.startswith("file:") else Path(uri)
        if not local.is_file():
            raise DataError("movies file not found", path=shown)
        return
    try:
        list_files(spark, uri, shown)
    except DataError:
        raise DataError("movies file not found", path=shown) from None


def read_movies(
    spark: SparkSession,
    uri: str,
    shown: str,
    item_ids: DataFrame | None,
    encoding: str | None = None,
) -> tuple[DataFrame, str]:
    """Movies of file ``uri`` as ``movie_id`` (int, the ratings' mapping), ``title``,
    ``genres``; cached (one job counts and logs what was skipped); and the encoding the
    file was decoded with (:func:`movies_encoding`).

    ``item_ids`` is the ratings' id table (``movie_id``, ``original``) when movie ids were
    remapped, else None (ids must then be integers that fit int32).

    Raises:
        DataError: missing or binary file, not valid text (see :func:`movies_encoding`), no
            id/title columns, or no movies at all.
    """
    _exists(spark, uri, shown)
    fmt = movies_format(shown)
    assert fmt in MOVIES_FORMATS
    check_not_binary(read_head(spark, uri, keep_bom=True)[0], shown, "movies")
    enc = movies_encoding(spark, uri, shown, encoding or None)
    cs = charset(enc)
    if fmt == "ml-100k":
        raw = _parse_100k(spark, uri, cs)
    elif fmt == "ml-dat":
        raw = _parse_dat(spark, uri, cs)
    else:
        raw = _parse_csv(spark, uri, cs, shown)
    good = raw
    text_keys = (
        item_ids is not None and item_ids.schema[ORIGINAL].dataType.simpleString() == "string"
    )
    if item_ids is not None and text_keys:
        keyed = good.withColumn("_key", F.when(F.col("_ok"), C.strip_text(F.col("id"))))
        mapped = keyed.join(item_ids.withColumnRenamed(ORIGINAL, "_key"), on="_key", how="left")
    else:
        cols = ["_ok", schema.TITLE, schema.GENRES, "_pos"]
        staged = good.select(*cols, *C.stage_text(F.col("id"), "_m"))
        staged = staged.select(*cols, *C.stage_number("_m"))
        cell = C.text_int_id("_m")
        assert cell.text is not None
        ok = F.col("_ok") & (cell.status == rules.OK) & cell.text.isNull()
        parsed = staged.select(*cols, F.when(ok, cell.value).alias("_v"))
        if item_ids is not None:
            ids = item_ids.withColumnRenamed(ORIGINAL, "_v")
            mapped = parsed.join(ids, on="_v", how="left")
        else:
            fits = F.col("_v").between(rules.INT32_MIN, rules.INT32_MAX)
            mapped = parsed.withColumn(schema.ITEM, F.when(fits, F.col("_v").cast("int")))
    first = F.row_number().over(Window.partitionBy(schema.ITEM).orderBy("_pos"))
    ranked = mapped.withColumn("_first", F.when(F.col(schema.ITEM).isNotNull(), first))
    row = ranked.agg(
        F.count(F.lit(1)).alias("lines"),
        F.sum(F.when(~F.col("_ok"), 1).otherwise(0)).alias("malformed"),
        F.sum(F.when(F.col("_ok") & F.col(schema.ITEM).isNull(), 1).otherwise(0)).alias("dropped"),
        F.sum(F.when(F.col("_first") > 1, 1).otherwise(0)).alias("repeated"),
    ).first()
    assert row is not None
    if int(row["lines"]) - int(row["malformed"] or 0) == 0:
        raise DataError("no movies in the movies file", path=shown)
    if row["malformed"]:
        logger.warning("%s: skipped %d malformed movie lines", shown, row["malformed"])
    if row["dropped"]:
        why = "not rated or not mapped" if item_ids is not None else "bad or out-of-range id"
        logger.warning("%s: skipped %d movies (%s)", shown, row["dropped"], why)
    if row["repeated"]:
        logger.warning("%s: skipped %d repeated movie ids", shown, row["repeated"])
    out = ranked.where(F.col("_first") == 1).select(
        F.col(schema.ITEM).cast("int").alias(schema.ITEM),
        C.strip_text(F.col(schema.TITLE)).alias(schema.TITLE),
        C.strip_text(F.col(schema.GENRES)).alias(schema.GENRES),
    )
    return out.persist(), enc
