"""Where the Spark reader's ratings come from: file, folder, glob or table, and its kind.

Local paths are resolved exactly like the local reader does
(:func:`movierec.data.readers.resolve_source`); Hadoop URIs (``hdfs://``, ``s3a://``,
``viewfs://`` …) and folders of part files through a listing made by Spark (file names and
sizes only: one row per file on the driver). The driver may read the first bytes of one
file (:func:`read_head`, at most 64 KiB) and windows of it (:func:`read_windows`, at most
8 x 16 KiB) to detect a layout; the rows themselves are only
ever read by ``spark.read`` on the executors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from movierec.config import DataConfig
from movierec.data.sources import ML_FILES, resolve_source
from movierec.data.textio import BOM, SAMPLE_BYTES, WINDOW_BYTES, window_starts
from movierec.data.textio import read_head as read_local_head
from movierec.errors import ConfigError, DataError
from movierec.hadoopfs import is_remote, spark_uri
from movierec.spark import is_connect

KINDS = ("text", "parquet", "orc", "json", "table")
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".orc": "orc",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMPRESSED = (".gz", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")
_GLOB = "*?[{"
_HEAD_LINES = 4096


@dataclass(frozen=True)
class Located:
    """A ratings source for ``spark.read``.

    ``uri`` is what Spark reads (a file, a folder, a glob, or the table name); ``shown``
    names it in errors and the load report (the local path as given, or the URI);
    ``layout`` is a :data:`movierec.data.report.LAYOUTS` name or "orc", "json", "table";
    ``sample`` is the file whose head detects a text layout; ``movies`` a movies file URI.
    """

    kind: str
    uri: str
    shown: str
    layout: str
    explicit: bool = False
    sample: str | None = None
    movies: str | None = None
    movies_shown: str | None = None


def _kind_of(name: str) -> str:
    lower = name.lower()
    for ext in _COMPRESSED:
        lower = lower.removesuffix(ext)
    return _EXTENSIONS.get(PurePosixPath(lower).suffix, "text")


def _norm(uri: str) -> str:
    """A file URI in one spelling (``file:///x`` and ``file:/x`` alike, no trailing /)."""
    u = uri.rstrip("/")
    if u.startswith("file://"):
        u = "file:" + u[len("file://") :]
    return unquote(u)


def _join(uri: str, name: str) -> str:
    return uri.rstrip("/") + "/" + name


def list_files(spark: SparkSession, uri: str, shown: str) -> list[tuple[str, int]]:
    """The files under ``uri`` (a file, a folder listed recursively, or a glob) with their
    sizes in bytes, sorted by path; hidden files (``_*``, ``.*``) left out as Spark does.
    Runs a small job; the driver receives one row per file.

    Raises:
        DataError: nothing exists at ``uri``, or the filesystem refused the listing.
    """
    try:
        rows = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .load(uri)
            .select("path", "length")
            .collect()
        )
    except Exception as exc:  # AnalysisException (classic or Connect), Java errors
        text = str(exc)
        if "PATH_NOT_FOUND" in text or "does not exist" in text:
            raise DataError("no such file or folder", path=shown) from None
        first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
        raise DataError(f"cannot list the input: {first}", path=shown) from exc
    return sorted((str(r["path"]), int(r["length"])) for r in rows)


def read_head(
    spark: SparkSession, uri: str, nbytes: int = SAMPLE_BYTES, *, keep_bom: bool = False
) -> tuple[bytes, bool]:
    """The first ``nbytes`` of file ``uri`` (a UTF-8 BOM removed unless ``keep_bom``) and
    whether that is the whole file, like :func:`movierec.data.textio.read_head` for a local
    file.

    Classic sessions read the bytes through the driver's Hadoop FileSystem. Spark Connect
    and compressed files read the first lines with ``spark.read.text`` (at most
    ``nbytes`` + one line reach the driver), which gives the same bytes for any file
    whose lines end in ``\\n``.
    """
    local = None if is_remote(uri) else _as_local(uri)
    if local is not None and local.is_file() and not local.name.endswith(_COMPRESSED):
        if not keep_bom:
            return read_local_head(local, nbytes)
        with open(local, "rb") as fh:
            head = fh.read(nbytes + 1)
    elif not is_connect(spark) and not uri.endswith(_COMPRESSED):
        head = _hadoop_head(spark, uri, nbytes + 1)
    else:
        head = _lines_head(spark, uri, nbytes + 1)
    whole = len(head) <= nbytes
    head = head[:nbytes]
    return (head[len(BOM) :] if head.startswith(BOM) and not keep_bom else head), whole


def read_windows(spark: SparkSession, uri: str) -> list[bytes]:
    """The raw bytes of the windows :func:`movierec.data.textio.read_sample` reads from the
    rest of a file (:func:`~movierec.data.textio.window_starts`, at most
    :data:`~movierec.data.textio.WINDOWS` x :data:`~movierec.data.textio.WINDOW_BYTES` bytes
    on the driver), so layout detection sees the whole file as the local reader does. Read
    by seeking in the file (local, or the driver's Hadoop FileSystem); compressed files and
    Spark Connect sessions, which cannot seek, give none (detection then uses the head)."""
    local = None if is_remote(uri) else _as_local(uri)
    if uri.endswith(_COMPRESSED):
        return []
    if local is not None and local.is_file():
        out = []
        with open(local, "rb") as fh:
            for start in window_starts(local.stat().st_size):
                fh.seek(start)
                out.append(fh.read(WINDOW_BYTES))
        return out
    if is_connect(spark):
        return []
    sc = spark.sparkContext
    jvm = sc._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(sc._jsc.hadoopConfiguration())
    size = int(fs.getFileStatus(path).getLen())
    stream = fs.open(path)
    try:
        out = []
        for start in window_starts(size):
            stream.seek(start)
            out.append(bytes(stream.readNBytes(WINDOW_BYTES)))
        return out
    finally:
        stream.close()


def _as_local(uri: str) -> Path | None:
    if uri.startswith("file:"):
        return Path(unquote(urlsplit(uri).path))
    return None if "://" in uri else Path(uri)


def _hadoop_head(spark: SparkSession, uri: str, n: int) -> bytes:
    sc = spark.sparkContext
    jvm = sc._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    stream = path.getFileSystem(sc._jsc.hadoopConfiguration()).open(path)
    try:
        return bytes(stream.readNBytes(n))
    finally:
        stream.close()


def _lines_head(spark: SparkSession, uri: str, n: int) -> bytes:
    lines = (
        spark.read.option("lineSep", "\n")
        .text(uri)
        .select(
            F.expr(f"substr(cast(value as binary), 1, {n})").alias("b"),
            F.monotonically_increasing_id().alias("m"),
        )
        .limit(_HEAD_LINES)
    )
    upto = F.sum(F.length("b") + 1).over(Window.orderBy("m"))
    kept = lines.withColumn("upto", upto).where(F.col("upto") - F.length("b") - 1 < n)
    got = [bytes(r["b"]) for r in kept.orderBy("m").select("b").collect()]
    return b"".join(b + b"\n" for b in got)[:n]


def _file_kind(spark: SparkSession, uri: str, name: str, fmt: str) -> str:
    if fmt != "auto":
        return "parquet" if fmt == "parquet" else "text"
    kind = _kind_of(name)
    if kind != "text" or name.endswith(_COMPRESSED):
        return kind
    head = read_head(spark, uri, 4)[0]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ORC"):
        return "orc"
    return "text"


def locate(spark: SparkSession, cfg: DataConfig) -> Located:
    """Find the ratings of ``cfg`` (``table``, ``path`` or ``dataset``) and their kind.

    Raises:
        ConfigError: no source configured.
        DatasetError: ``cfg.dataset`` is unknown or not downloaded.
        DataError: the path does not exist, or a folder holds no ratings.
    """
    if cfg.table is not None:
        return Located("table", cfg.table, cfg.table, "table", explicit=True)
    if cfg.path is not None:
        path: str | Path = cfg.path
    elif cfg.dataset:
        from movierec.data.datasets import resolve_dataset

        path = resolve_dataset(cfg.dataset, download=True)
    else:
        raise ConfigError(
            "no ratings source: set data.path (a file or folder), data.dataset "
            "(see `movierec datasets list`) or data.table"
        )
    if isinstance(path, Path):
        return _locate_local(spark, Path(path).expanduser(), cfg.format)
    return _locate_listed(spark, str(path), str(path), cfg.format)


def _locate_local(spark: SparkSession, path: Path, fmt: str) -> Located:
    glob = any(ch in str(path) for ch in _GLOB)
    if not glob:
        try:
            src = resolve_source(path, fmt)
        except DataError:
            if not path.is_dir():
                raise
            try:
                return _locate_listed(spark, spark_uri(path), str(path), fmt)
            except DataError:
                pass
            raise
        uri = spark_uri(src.ratings)
        movies = None if src.movies is None else spark_uri(src.movies)
        shown_movies = None if src.movies is None else str(src.movies)
        if src.layout == "parquet":
            return Located("parquet", uri, str(src.ratings), "parquet", src.explicit)
        kind = (
            _file_kind(spark, uri, src.ratings.name, fmt) if src.layout == "delimited" else "text"
        )
        if kind != "text":
            return Located(kind, uri, str(src.ratings), kind, src.explicit)
        return Located(
            "text", uri, str(src.ratings), src.layout, src.explicit, uri, movies, shown_movies
        )
    return _locate_listed(spark, "file://" + os.path.abspath(path), str(path), fmt)


def _locate_listed(spark: SparkSession, uri: str, shown: str, fmt: str) -> Located:
    files = list_files(spark, uri, shown)
    if not files:
        raise DataError("no files here", path=shown)
    glob = any(ch in uri for ch in _GLOB)
    if len(files) == 1 and not glob and _norm(files[0][0]) == _norm(uri):
        name = PurePosixPath(urlsplit(uri).path).name
        kind = _file_kind(spark, uri, name, fmt)
        if kind != "text":
            return Located(kind, uri, shown, kind, fmt != "auto")
        parent, parent_shown = uri.rsplit("/", 1)[0], shown.rsplit("/", 1)[0]
        sibling = _movies_beside(spark, parent, name)
        return _ml_file(uri, shown, name, fmt, sibling, parent, parent_shown)
    if glob:
        return _parts(uri, shown, files, fmt, require_part_names=False)
    base = _norm(uri) + "/"
    rel = [_norm(p)[len(base) :] if _norm(p).startswith(base) else p for p, _ in files]
    top = {r for r in rel if "/" not in r}
    for fname, layout, movies in ML_FILES:
        if fmt in ("auto", "delimited", layout) and fname in top:
            found = movies if movies in top else None
            return _ml_file(_join(uri, fname), _join(shown, fname), fname, fmt, found, uri, shown)
    if fmt in ("auto", "parquet") and any(r.endswith(".parquet") for r in top):
        return Located("parquet", uri, shown, "parquet", fmt != "auto")
    subdirs = {r.split("/", 1)[0] for r in rel if "/" in r}
    if len(subdirs) == 1 and not top:
        sub = subdirs.pop()
        try:
            return _locate_listed(spark, _join(uri, sub), _join(shown, sub), fmt)
        except DataError:
            pass
    return _parts(uri, shown, files, fmt, require_part_names=True)


def _movies_beside(spark: SparkSession, folder: str, name: str) -> str | None:
    """The name of the MovieLens movies file beside the ratings file ``name`` in the
    remote ``folder`` (``ratings.csv`` -> ``movies.csv`` …), when it exists there: one
    existence check through the driver's Hadoop filesystem (none under Spark Connect)."""
    wanted = next((movies for f, _lay, movies in ML_FILES if f == name), None)
    if wanted is None or is_connect(spark):
        return None
    from movierec.hadoopfs import HadoopFS

    try:
        return wanted if HadoopFS(spark).exists(_join(folder, wanted)) else None
    except Exception:  # an unreachable folder: no titles, as for a missing file
        return None


def _ml_file(
    uri: str,
    shown: str,
    name: str,
    fmt: str,
    sibling: str | None,
    folder: str | None = None,
    folder_shown: str | None = None,
) -> Located:
    explicit = fmt != "auto"
    layout = fmt if explicit else next((lay for f, lay, _ in ML_FILES if f == name), "delimited")
    movies = movies_shown = None
    if sibling is not None and folder is not None and folder_shown is not None:
        movies, movies_shown = _join(folder, sibling), _join(folder_shown, sibling)
    return Located("text", uri, shown, layout, explicit, uri, movies, movies_shown)


def _parts(
    uri: str, shown: str, files: list[tuple[str, int]], fmt: str, *, require_part_names: bool
) -> Located:
    names = [PurePosixPath(urlsplit(p).path).name for p, _ in files]
    kinds = {"parquet" if fmt == "parquet" else _kind_of(n) for n in names}
    if require_part_names and kinds == {"text"} and not all(n.startswith("part-") for n in names):
        raise DataError(
            "no ratings file in this folder (looked for u.data, ratings.dat, ratings.csv, "
            "*.parquet, *.orc, *.json or part-* files)",
            path=shown,
        )
    if len(kinds) > 1:
        raise DataError(
            f"the input mixes {' and '.join(sorted(kinds))} files; point to one kind",
            path=shown,
        )
    kind = kinds.pop()
    if kind != "text":
        return Located(kind, uri, shown, kind, fmt != "auto")
    sample = next((p for p, size in files if size > 0), files[0][0])
    layout = fmt if fmt not in ("auto", "parquet") else "delimited"
    return Located("text", uri, shown, layout, fmt != "auto", sample)
