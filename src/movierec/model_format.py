"""The model folder format, shared by its writer (:mod:`movierec.model_io`) and the HTTP
service's reader (:mod:`movierec.service.model_reader`).

Standard library only (plus :mod:`movierec.errors` and the marker name of
:mod:`movierec.atomic`): the service imports it without pandas, pydantic or Spark. What
lives here: the file names and format constants, the ``model.json`` header check, the "is
this a model folder at all" check, and the checksum manifest.

**The manifest** (``manifest.json``, written last by :func:`movierec.model_io.save_model`)
lists every other file of the folder, sub-folders included, with its size in bytes and its
SHA-256::

    {"format": "movierec-manifest", "algorithm": "sha256",
     "files": {"factors.npz": {"bytes": 123, "sha256": "…"}, "serving/seen_items.npy": …}}

A reader verifies each file it uses against it (the service hashes the very bytes it keeps
in memory) and the size of every other listed file; a file on disk that the manifest does
not list is refused when a reader would use it. ``model.json``'s ``integrity`` section
(also written by ``save_model``) says that a manifest must be there, and records the
factor-norm bounds (see :data:`NORM_MARGIN`). Folders written before the manifest existed
have neither and still load (unverified, with a log line); their model version is the hash
of ``model.json`` instead of the manifest's.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from movierec.atomic import OWNER_FILE
from movierec.errors import ModelError

MODEL_FORMAT = "movierec-model"
MODEL_FORMAT_VERSION = 1
MODEL_JSON = "model.json"
MANIFEST = "manifest.json"
"""The checksum manifest (module docstring)."""
MANIFEST_FORMAT = "movierec-manifest"
FACTORS = "factors.npz"
TRAIN_RATINGS = "train_ratings.parquet"
"""The training ratings (user_id, movie_id, rating): one Parquet file, or a folder of
Parquet part files of that name."""
MOVIES = "movies.parquet"
ENGINE_DIR = "engine"
USER_IDS = "user_ids.npy"
ITEM_IDS = "item_ids.npy"
REQUIRED_FILES = (FACTORS, TRAIN_RATINGS, ENGINE_DIR)
"""What every model folder has beside model.json."""
SERVING_DIR = "serving"
"""Sub-folder with the service's training-data index (see :mod:`movierec.model_io`)."""
SERVING_ARRAYS = ("seen_indptr", "seen_items", "seen_ratings", "item_counts")
"""The ``.npy`` arrays of ``serving/``."""
SERVING_MOVIES = "movies.json"
RECOMMENDER_DIR = "recommender"
"""Sub-folder holding the ranking model (itself a complete model folder)."""
FACTOR_KEYS = (
    "user_ids",
    "user_factors",
    "item_ids",
    "item_factors",
    "global_mean",
    "user_bias",
    "item_bias",
)
"""The arrays of ``factors.npz``."""
MODEL_KINDS = ("als", "biased-als", "implicit-als", "ials", "ease")
RECOMMENDERS = ("rating-model", "most-popular", *MODEL_KINDS)
"""What ``model.json``'s optional ``recommender`` section may name (a model kind is a
sub-folder model)."""
EASE_FORMAT = "movierec-ease"
EASE_FORMAT_VERSION = 1
EASE_JSON = "ease.json"
"""An ``ease`` model's ``engine/`` folder (format ``movierec-ease``, written by
:mod:`movierec.engines.ease_model` on both engines): ``ease.json`` (λ, threshold, blend…),
``item_ids.npy``, and the weights B as :data:`EASE_DENSE` or the three :data:`EASE_TOPK`
arrays (CSR by source row)."""
EASE_DENSE = "weights.npy"
EASE_TOPK = ("weights_indptr.npy", "weights_indices.npy", "weights_values.npy")
NORM_MARGIN = 1.25
"""The factor-norm bounds in ``model.json`` are the largest user (item) factor row norm
of the saved model times this margin; a reader refuses factors beyond them."""
LEGACY_NORM_LIMIT = 1e6
"""The row-norm limit for folders without recorded bounds (trained factors are O(1–100))."""
_CHUNK = 1 << 20


def check_model_dir(path: Path) -> Path:
    """``path`` if it is a folder with a ``model.json``.

    Raises:
        ModelError: the folder does not exist, is not a folder, or has no model.json
            (three different messages).
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model folder {path} does not exist")
    if not path.is_dir():
        raise ModelError(f"{path} is not a folder (a model is a folder with a {MODEL_JSON})")
    if not (path / MODEL_JSON).is_file():
        raise ModelError(f"{path}: not a movierec model folder (no {MODEL_JSON})")
    return path


def parse_meta(raw: bytes, path: Path) -> dict[str, Any]:
    """``model.json``'s content (``raw``) after checking its format and version.

    Raises:
        ModelError: not JSON, not a movierec model, or another format version.
    """
    meta_file = Path(path) / MODEL_JSON
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise ModelError(f"{meta_file}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ModelError(f"{meta_file}: not a movierec model")
    version = meta.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        newer = isinstance(version, int) and version > MODEL_FORMAT_VERSION
        hint = (
            "it was written by a newer movierec: upgrade movierec, or retrain the model"
            if newer
            else "retrain the model with this version"
        )
        raise ModelError(
            f"{path}: model format version {version} is not supported by this movierec "
            f"(reads version {MODEL_FORMAT_VERSION}); {hint}"
        )
    return meta


def norm_bounds(meta: dict[str, Any]) -> tuple[float, float] | None:
    """(user, item) factor row-norm bounds recorded in ``model.json``; None if absent.

    Raises:
        ModelError: the section is there but malformed.
    """
    section = meta.get("integrity")
    if section is None:
        return None
    bounds = section.get("factor_norm_bound") if isinstance(section, dict) else None
    try:
        user, item = float(bounds["user"]), float(bounds["item"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise ModelError(f"{MODEL_JSON}: malformed integrity section {section!r:.200}") from None
    if not (user >= 0 and item >= 0):
        raise ModelError(f"{MODEL_JSON}: negative factor norm bound in the integrity section")
    return user, item


def integrity_section(user_norm_max: float, item_norm_max: float) -> dict[str, Any]:
    """The ``integrity`` section :func:`movierec.model_io.save_model` writes to model.json."""
    return {
        "manifest": MANIFEST,
        "factor_norm_bound": {
            "user": float(user_norm_max) * NORM_MARGIN,
            "item": float(item_norm_max) * NORM_MARGIN,
        },
        "norm_margin": NORM_MARGIN,
    }


def sha256_file(file: Path) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(file, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _walk(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative POSIX paths, sorted), except the manifest, the
    marker :func:`movierec.atomic.atomic_dir` removes when it publishes the folder, and the
    checksum sidecars (``.NAME.crc``) Hadoop's local filesystem writes beside Spark's part
    files (filesystem metadata, not model content: present or not depending on where and
    how the folder was written or copied)."""
    out = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            rel = (Path(root) / name).relative_to(folder).as_posix()
            sidecar = name.startswith(".") and name.endswith(".crc")
            if rel != MANIFEST and name != OWNER_FILE and not sidecar:
                out.append(rel)
    return sorted(out)


def write_manifest(folder: Path, extra: dict[str, tuple[int, str]] | None = None) -> Path:
    """Hash every file under ``folder`` into ``folder/manifest.json``; return its path.

    ``extra``: (size, hex SHA-256) of files of the folder that are not on this disk, by
    relative path (part files Spark's executors wrote straight into a remote output)."""
    files = {}
    for rel in _walk(folder):
        digest, size = sha256_file(folder / rel)
        files[rel] = {"bytes": size, "sha256": digest}
    for rel, (size, digest) in (extra or {}).items():
        files.setdefault(rel, {"bytes": int(size), "sha256": str(digest)})
    body = {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": files}
    out = folder / MANIFEST
    out.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class FileEntry:
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """A model folder's checksum manifest (module docstring)."""

    folder: Path
    files: dict[str, FileEntry]
    digest: str
    """SHA-256 of the manifest file itself: it changes when any listed file does."""

    def entry(self, rel: str) -> FileEntry:
        """The entry of ``rel``.

        Raises:
            ModelError: ``rel`` is not listed.
        """
        entry = self.files.get(rel)
        if entry is None:
            raise ModelError(
                f"{self.folder / rel}: not in the model's {MANIFEST} (the folder mixes files "
                "of different models)"
            )
        return entry

    def verify(self, rel: str, digest: str, size: int) -> None:
        """Check one file's hash and size against the manifest.

        Raises:
            ModelError: not listed, or different content.
        """
        entry = self.entry(rel)
        if entry.size != size or entry.sha256 != digest:
            raise ModelError(
                f"{self.folder / rel}: damaged or changed since the model was saved "
                f"({size} bytes, sha256 {digest[:12]}…; the model's {MANIFEST} says "
                f"{entry.size} bytes, {entry.sha256[:12]}…): changed in place, or copied "
                "from another model"
            )

    def verify_path(self, rel: str) -> None:
        """Hash ``rel`` on disk (a file, or every file under a folder) and check it.

        Raises:
            ModelError: a file is not listed or differs; a listed file under the folder is
                missing.
        """
        target = self.folder / rel
        if target.is_dir():
            on_disk = {f"{rel}/{sub}" for sub in _walk(target)}
            listed = {name for name in self.files if name.startswith(rel + "/")}
            for name in sorted(listed - on_disk):
                raise ModelError(
                    f"{self.folder / name}: listed in the model's {MANIFEST} but missing"
                )
            names = sorted(on_disk)
        else:
            names = [rel]
        for name in names:
            self.entry(name)
            digest, size = sha256_file(self.folder / name)
            self.verify(name, digest, size)

    def check_sizes(self) -> None:
        """Every listed file exists with its listed size (a cheap check for the files a
        reader does not hash).

        Raises:
            ModelError: a listed file is missing or has another size.
        """
        for rel, entry in self.files.items():
            try:
                size = (self.folder / rel).stat().st_size
            except OSError:
                raise ModelError(
                    f"{self.folder / rel}: listed in the model's {MANIFEST} but missing"
                ) from None
            if size != entry.size:
                raise ModelError(
                    f"{self.folder / rel}: damaged or changed since the model was saved "
                    f"({size} bytes; the model's {MANIFEST} says {entry.size}): changed in "
                    "place, or copied from another model"
                )


def read_manifest(folder: Path, meta: dict[str, Any]) -> Manifest | None:
    """The folder's manifest; None for a folder written before manifests (no
    ``integrity`` section in ``meta`` and no manifest file).

    Raises:
        ModelError: model.json announces a manifest that is missing, or the manifest is
            malformed.
    """
    folder = Path(folder)
    file = folder / MANIFEST
    if not file.is_file():
        if meta.get("integrity") is not None:
            raise ModelError(f"{folder}: {MANIFEST} is missing (model.json says it has one)")
        return None
    try:
        raw = file.read_bytes()
        body = json.loads(raw)
        files = {
            str(rel): FileEntry(int(e["bytes"]), str(e["sha256"]))
            for rel, e in body["files"].items()
        }
        ok = body.get("format") == MANIFEST_FORMAT and body.get("algorithm") == "sha256"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{file}: unreadable manifest ({type(exc).__name__})") from exc
    if not ok or MODEL_JSON not in files:
        raise ModelError(f"{file}: not a movierec manifest")
    return Manifest(folder, files, hashlib.sha256(raw).hexdigest())
