"""Registry, cache and download of the GroupLens MovieLens releases.

Datasets are unpacked under a cache folder (``$MOVIEREC_DATA_DIR``, else
``$XDG_CACHE_HOME/movierec`` or ``~/.cache/movierec``) as ``<cache>/<folder>/``. A
download streams to a temporary file in the cache folder, is checked against the
published size and MD5, unpacked into a temporary folder and moved into place with
``os.replace``, so the cache never holds a partial dataset.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from movierec.errors import DatasetError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
_CHUNK = 1 << 20
_TIMEOUT = 60.0

Progress = Callable[[int, "int | None"], None]
"""``progress(bytes_done, bytes_total)``; ``bytes_total`` is None when unknown."""

_RATINGS_FILE = {"ml-100k": "u.data", "ml-dat": "ratings.dat", "ml-csv": "ratings.csv"}


@dataclass(frozen=True)
class DatasetInfo:
    """One GroupLens release: archive name, published size and MD5, folder inside the zip,
    ratings layout and headline counts."""

    name: str
    zip_name: str
    size: int | None
    md5: str | None
    folder: str
    layout: str
    ratings: int
    users: int
    movies: int

    @property
    def url(self) -> str:
        """Download URL under the GroupLens default base URL."""
        return f"{DEFAULT_BASE_URL}/{self.zip_name}"

    @property
    def ratings_file(self) -> str:
        """Name of the ratings file inside :attr:`folder`."""
        return _RATINGS_FILE[self.layout]

    def url_for(self, base_url: str | None) -> str:
        """Download URL under ``base_url`` (default: GroupLens)."""
        return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{self.zip_name}"


def _info(
    name: str,
    size: int | None,
    md5: str | None,
    folder: str,
    layout: str,
    ratings: int,
    users: int,
    movies: int,
) -> DatasetInfo:
    return DatasetInfo(name, f"{name}.zip", size, md5, folder, layout, ratings, users, movies)


DATASETS: dict[str, DatasetInfo] = {
    "ml-latest-small": _info(
        "ml-latest-small", None, None, "ml-latest-small", "ml-csv", 100_836, 610, 9_742
    ),
    "ml-100k": _info(
        "ml-100k",
        4_924_029,
        "0e33842e24a9c977be4e0107933c0723",
        "ml-100k",
        "ml-100k",
        100_000,
        943,
        1_682,
    ),
    "ml-1m": _info(
        "ml-1m",
        5_917_549,
        "c4d9eecfca2ab87c1945afe126590906",
        "ml-1m",
        "ml-dat",
        1_000_209,
        6_040,
        3_706,
    ),
    "ml-10m": _info(
        "ml-10m",
        65_566_137,
        "ce571fd55effeba0271552578f2648bd",
        "ml-10M100K",
        "ml-dat",
        10_000_054,
        69_878,
        10_681,
    ),
    "ml-20m": _info(
        "ml-20m",
        198_702_078,
        "cd245b17a1ae2cc31bb14903e1204af3",
        "ml-20m",
        "ml-csv",
        20_000_263,
        138_493,
        27_278,
    ),
    "ml-25m": _info(
        "ml-25m",
        261_978_986,
        "6b51fb2759a8657d3bfcbfc42b592ada",
        "ml-25m",
        "ml-csv",
        25_000_095,
        162_541,
        62_423,
    ),
    "ml-32m": _info(
        "ml-32m",
        238_950_008,
        "d472be332d4daa821edc399621853b57",
        "ml-32m",
        "ml-csv",
        32_000_204,
        200_948,
        87_585,
    ),
}
"""Known releases by name. ml-latest-small changes over time and has no published MD5."""


def default_cache_dir() -> Path:
    """The dataset cache: ``$MOVIEREC_DATA_DIR``, else ``$XDG_CACHE_HOME/movierec``, else
    ``~/.cache/movierec``."""
    env = os.environ.get("MOVIEREC_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "movierec"


def _lookup(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}"
        ) from None


def _cached(info: DatasetInfo, cache: Path) -> Path | None:
    folder = cache / info.folder
    return folder if (folder / info.ratings_file).is_file() else None


def list_datasets(cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Describe every known dataset as a JSON-ready dict (name, url, size, md5, folder,
    layout, counts, and whether/where it is in the cache)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = []
    for info in DATASETS.values():
        here = _cached(info, cache)
        out.append(
            {
                "name": info.name,
                "url": info.url,
                "size": info.size,
                "md5": info.md5,
                "folder": info.folder,
                "layout": info.layout,
                "ratings": info.ratings,
                "users": info.users,
                "movies": info.movies,
                "cached": here is not None,
                "path": str(here) if here is not None else None,
            }
        )
    return out


def resolve_dataset(
    name: str,
    cache_dir: str | Path | None = None,
    download: bool = False,
    base_url: str | None = None,
) -> Path:
    """Return the unpacked folder of dataset ``name`` in the cache (downloading it first
    when ``download`` is true and it is missing).

    Raises:
        DatasetError: unknown name (lists the known ones); not in the cache and
            ``download`` is false (says to run ``movierec datasets fetch NAME``); or the
            download failed.
    """
    info = _lookup(name)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    here = _cached(info, cache)
    if here is not None:
        return here
    if download:
        return fetch_dataset(name, cache, base_url=base_url)
    raise DatasetError(
        f"dataset {name!r} is not in the cache {cache}; run `movierec datasets fetch {name}` "
        f"(or set MOVIEREC_DATA_DIR to a folder holding {info.folder}/)"
    )


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    for member in zf.infolist():
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if member.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise DatasetError(f"unsafe path in archive: {member.filename!r}")
    zf.extractall(dest)


def _download(
    url: str, fh: Any, expected: int | None, progress: Progress | None
) -> tuple[int, str]:
    md5 = hashlib.md5()
    done = 0
    with urllib.request.urlopen(url, timeout=_TIMEOUT) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else expected
        if progress is not None:
            progress(0, total)
        while True:
            chunk = resp.read(_CHUNK)
            if not chunk:
                break
            fh.write(chunk)
            md5.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return done, md5.hexdigest()


def fetch_dataset(
    name: str,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download, verify and unpack dataset ``name`` into the cache; return its folder.

    A dataset already in the cache is reused without any network access. The archive is
    streamed to a temporary file in the cache folder, checked against the published byte
    size and MD5 (when published), unpacked into a temporary folder and moved into place
    with ``os.replace``. On any failure nothing is left in the cache.

    Raises:
        DatasetError: unknown name; download failed; size or checksum mismatch (names
            expected and actual values); a bad archive or one without the expected folder;
            or an incomplete folder of that name already in the cache.
    """
    info = _lookup(name)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    here = _cached(info, cache)
    if here is not None:
        logger.info("dataset %s already in %s", name, here)
        return here
    target = cache / info.folder
    if target.exists():
        raise DatasetError(
            f"{target} exists but holds no {info.ratings_file}; remove it and fetch again"
        )
    created = not cache.exists()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the dataset cache {cache}: {exc}") from exc
    url = info.url_for(base_url)
    tmp_zip: Path | None = None
    tmp_dir: Path | None = None
    try:
        try:
            fd, zip_name = tempfile.mkstemp(dir=cache, prefix=f".{name}-", suffix=".zip.part")
        except OSError as exc:
            raise DatasetError(f"cannot write to the dataset cache {cache}: {exc}") from exc
        tmp_zip = Path(zip_name)
        logger.info("downloading %s from %s", name, url)
        try:
            with os.fdopen(fd, "wb") as fh:
                size, digest = _download(url, fh, info.size, progress)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DatasetError(f"download of {name} from {url} failed: {exc}") from exc
        if info.size is not None and size != info.size:
            raise DatasetError(
                f"download of {name} from {url} is {size:,} bytes, expected {info.size:,}; "
                "nothing was kept"
            )
        if info.md5 is not None and digest != info.md5.lower():
            raise DatasetError(
                f"checksum mismatch for {name} from {url}: expected MD5 {info.md5}, "
                f"got {digest}; nothing was kept"
            )
        if info.md5 is None:
            logger.warning("%s has no published checksum; size %d bytes not verified", name, size)
        tmp_dir = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}-unpack-"))
        try:
            with zipfile.ZipFile(tmp_zip) as zf:
                _safe_extract(zf, tmp_dir)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"{name}: the downloaded archive is not a valid zip: {exc}") from exc
        unpacked = tmp_dir / info.folder
        if not (unpacked / info.ratings_file).is_file():
            raise DatasetError(f"{name}: the archive has no {info.folder}/{info.ratings_file}")
        try:
            os.replace(unpacked, target)
        except OSError as exc:
            if _cached(info, cache) is not None:  # another process won the race
                return target
            raise DatasetError(f"cannot move {name} into {target}: {exc}") from exc
        logger.info("dataset %s ready in %s", name, target)
        return target
    finally:
        if tmp_zip is not None and tmp_zip.exists():
            tmp_zip.unlink()
        if tmp_dir is not None and tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
        if created and cache.exists() and not any(cache.iterdir()):
            cache.rmdir()
