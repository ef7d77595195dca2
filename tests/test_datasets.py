"""Dataset registry, cache resolution and download (served from 127.0.0.1 only)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import (
    DATASETS,
    default_cache_dir,
    fetch_dataset,
    list_datasets,
    load_ratings,
    resolve_dataset,
)
from movierec.errors import DatasetError

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
U_ITEM = (
    "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(["0"] * 5 + ["1"] + ["0"] * 13) + "\n"
    "302|L.A. Confidential (1997)|01-Jan-1997||http://x|" + "|".join(["0"] * 19) + "\n"
)


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text.encode("latin-1"))
    return buf.getvalue()


class Server:
    """A local HTTP server that serves ``files`` (url path -> bytes) and counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/movielens"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def ml100k_zip(server: Server, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Serve a miniature ml-100k.zip and point the registry's size/MD5 at it."""
    body = make_zip({"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM, "ml-100k/README": "hi"})
    server.files["/movielens/ml-100k.zip"] = body
    entry = dataclasses.replace(
        DATASETS["ml-100k"], size=len(body), md5=hashlib.md5(body).hexdigest()
    )
    monkeypatch.setitem(DATASETS, "ml-100k", entry)
    return body


# --------------------------------------------------------------------------- registry


def test_registry_facts() -> None:
    assert set(DATASETS) == {
        "ml-latest-small", "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m",
    }  # fmt: skip
    ml100k = DATASETS["ml-100k"]
    assert (ml100k.size, ml100k.md5) == (4_924_029, "0e33842e24a9c977be4e0107933c0723")
    assert ml100k.url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert (ml100k.folder, ml100k.layout) == ("ml-100k", "ml-100k")
    assert DATASETS["ml-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert DATASETS["ml-10m"].folder == "ml-10M100K"
    assert DATASETS["ml-10m"].size == 65_566_137
    assert DATASETS["ml-20m"].md5 == "cd245b17a1ae2cc31bb14903e1204af3"
    assert DATASETS["ml-25m"].size == 261_978_986
    assert DATASETS["ml-32m"].md5 == "d472be332d4daa821edc399621853b57"
    small = DATASETS["ml-latest-small"]
    assert small.md5 is None and small.size is None and small.layout == "ml-csv"


def test_list_datasets(tmp_path: Path) -> None:
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.dat").write_text("1::2::3::4\n")
    listed = {d["name"]: d for d in list_datasets(tmp_path)}
    assert set(listed) == set(DATASETS)
    assert listed["ml-1m"]["cached"] and listed["ml-1m"]["path"] == str(tmp_path / "ml-1m")
    assert not listed["ml-25m"]["cached"]
    assert listed["ml-25m"]["url"].endswith("/ml-25m.zip")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOVIEREC_DATA_DIR", str(tmp_path / "data"))
    assert default_cache_dir() == tmp_path / "data"
    monkeypatch.delenv("MOVIEREC_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "movierec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "movierec"


# --------------------------------------------------------------------------- resolve


def test_unknown_name_lists_known(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        resolve_dataset("ml-5m", tmp_path)
    assert "unknown dataset 'ml-5m'" in str(info.value)
    assert "ml-100k, ml-1m" in str(info.value) and "ml-latest-small" in str(info.value)
    with pytest.raises(DatasetError, match="known datasets"):
        fetch_dataset("nope", tmp_path)


def test_not_cached_tells_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"run `movierec datasets fetch ml-1m`"):
        resolve_dataset("ml-1m", tmp_path)


def test_cache_folder_used_as_is(ml_small: Path) -> None:
    assert resolve_dataset("ml-latest-small", ml_small.parent) == ml_small


def test_load_ratings_by_dataset_name(ml_small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_DATA_DIR", str(ml_small.parent))
    loaded = load_ratings(DataConfig(dataset="ml-latest-small"))
    assert len(loaded.ratings) == 100_836 and loaded.report.format == "ml-csv"


# --------------------------------------------------------------------------- fetch


def test_fetch_then_load_then_reuse(
    tmp_path: Path, server: Server, ml100k_zip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    seen: list[tuple[int, int | None]] = []
    folder = fetch_dataset(
        "ml-100k", cache, base_url=server.url, progress=lambda d, t: seen.append((d, t))
    )
    assert folder == cache / "ml-100k"
    assert (folder / "u.data").read_text() == U_DATA
    assert sorted(p.name for p in cache.iterdir()) == ["ml-100k"]  # no temp files left
    assert server.hits == ["/movielens/ml-100k.zip"]
    assert seen[-1] == (len(ml100k_zip), len(ml100k_zip))

    monkeypatch.setenv("MOVIEREC_DATA_DIR", str(cache))
    loaded = load_ratings(DataConfig(dataset="ml-100k"))
    assert loaded.report.format == "ml-100k" and len(loaded.ratings) == 3
    assert loaded.ratings[schema.USER].tolist() == [196, 186, 22]
    assert loaded.movies is not None and loaded.movies[schema.GENRES].tolist() == ["Comedy", ""]

    assert fetch_dataset("ml-100k", cache, base_url=server.url) == folder
    assert resolve_dataset("ml-100k", cache, download=True, base_url=server.url) == folder
    assert len(server.hits) == 1  # reused, no second download


def test_resolve_with_download(tmp_path: Path, server: Server, ml100k_zip: bytes) -> None:
    folder = resolve_dataset("ml-100k", tmp_path, download=True, base_url=server.url)
    assert (folder / "u.item").is_file() and len(server.hits) == 1


def test_checksum_mismatch_leaves_nothing(
    tmp_path: Path, server: Server, ml100k_zip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "0" * 32
    monkeypatch.setitem(DATASETS, "ml-100k", dataclasses.replace(DATASETS["ml-100k"], md5=wrong))
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(DatasetError) as info:
        fetch_dataset("ml-100k", cache, base_url=server.url)
    msg = str(info.value)
    assert "checksum mismatch for ml-100k" in msg
    assert f"expected MD5 {wrong}" in msg
    assert f"got {hashlib.md5(ml100k_zip).hexdigest()}" in msg
    assert list(cache.iterdir()) == []


def test_checksum_mismatch_removes_cache_it_created(
    tmp_path: Path, server: Server, ml100k_zip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DATASETS, "ml-100k", dataclasses.replace(DATASETS["ml-100k"], md5="f" * 32))
    cache = tmp_path / "new" / "cache"
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch_dataset("ml-100k", cache, base_url=server.url)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_size_mismatch(
    tmp_path: Path, server: Server, ml100k_zip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = dataclasses.replace(DATASETS["ml-100k"], size=len(ml100k_zip) + 1)
    monkeypatch.setitem(DATASETS, "ml-100k", entry)
    with pytest.raises(DatasetError, match=f"is {len(ml100k_zip):,} bytes, expected"):
        fetch_dataset("ml-100k", tmp_path, base_url=server.url)
    assert list(tmp_path.iterdir()) == []


def test_http_error(tmp_path: Path, server: Server) -> None:
    with pytest.raises(DatasetError, match=r"download of ml-1m from http://127\.0\.0\.1.*failed"):
        fetch_dataset("ml-1m", tmp_path, base_url=server.url)
    assert list(tmp_path.iterdir()) == []


def test_archive_without_folder_or_not_zip(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = make_zip({"other/u.data": U_DATA})
    server.files["/movielens/ml-100k.zip"] = body
    monkeypatch.setitem(
        DATASETS, "ml-100k", dataclasses.replace(DATASETS["ml-100k"], size=None, md5=None)
    )
    with pytest.raises(DatasetError, match=r"archive has no ml-100k/u\.data"):
        fetch_dataset("ml-100k", tmp_path, base_url=server.url)
    assert list(tmp_path.iterdir()) == []
    server.files["/movielens/ml-100k.zip"] = b"<html>not a zip</html>"
    with pytest.raises(DatasetError, match="not a valid zip"):
        fetch_dataset("ml-100k", tmp_path, base_url=server.url)
    assert list(tmp_path.iterdir()) == []


def test_unsafe_archive_rejected(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/movielens/ml-100k.zip"] = make_zip(
        {"../evil.txt": "x", "ml-100k/u.data": U_DATA}
    )
    monkeypatch.setitem(
        DATASETS, "ml-100k", dataclasses.replace(DATASETS["ml-100k"], size=None, md5=None)
    )
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="unsafe path"):
        fetch_dataset("ml-100k", cache, base_url=server.url)
    assert not (tmp_path / "evil.txt").exists()
    assert not cache.exists() or list(cache.iterdir()) == []


def test_incomplete_cache_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    with pytest.raises(DatasetError, match=r"holds no u\.data; remove it"):
        fetch_dataset("ml-100k", tmp_path, base_url="http://127.0.0.1:9")
