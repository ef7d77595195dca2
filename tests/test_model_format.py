"""The model folder format (``model_format``) and the checks ``model_io`` and the service's
reader make with it: the checksum manifest, the factor-norm bounds, folder errors."""

from __future__ import annotations

import ast
import json
import mmap
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import model_format
from movierec.errors import ModelError
from movierec.model_format import MANIFEST, check_model_dir, read_manifest, sha256_file
from movierec.model_io import load_model_dir
from movierec.service.model_files import parse_npy
from movierec.service.model_reader import read_model
from test_service import _read_small, _train, reseal


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    ratings, movies = _read_small(ml_small)
    out = tmp_path_factory.mktemp("format") / "m"
    _train(ratings, movies, out, rank=6, reg_param=0.1, max_iter=2, model="biased-als")
    return out


def _copy(model: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(model, target)
    return target


def test_model_format_is_stdlib_only() -> None:
    """The module the service shares with model_io imports nothing outside the standard
    library but movierec's errors and atomic (themselves stdlib only)."""
    allowed = {"movierec.errors", "movierec.atomic", "__future__"}
    for module in ("model_format", "errors", "atomic"):
        tree = ast.parse(Path(model_format.__file__).with_name(f"{module}.py").read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert name in allowed or (top != "movierec" and top in _stdlib()), (module, name)


def _stdlib() -> set[str]:
    import sys

    return set(sys.stdlib_module_names)


def test_manifest_lists_every_file_with_its_hash(model: Path) -> None:
    meta = json.loads((model / "model.json").read_text())
    manifest = read_manifest(model, meta)
    assert manifest is not None
    on_disk = {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()} - {
        MANIFEST
    }
    assert set(manifest.files) == on_disk
    for rel, entry in manifest.files.items():
        assert (entry.sha256, entry.size) == sha256_file(model / rel)
    assert meta["integrity"]["manifest"] == MANIFEST
    bounds = meta["integrity"]["factor_norm_bound"]
    with np.load(model / "factors.npz") as z:
        for side in ("user", "item"):
            f = z[f"{side}_factors"].astype(np.float64)
            worst = float(np.linalg.norm(f, axis=1).max())
            assert bounds[side] == pytest.approx(worst * model_format.NORM_MARGIN, rel=1e-12)


def test_model_io_load_verifies_the_manifest(model: Path, tmp_path: Path) -> None:
    assert load_model_dir(model).params.rank == 6
    changed = _copy(model, tmp_path)
    train = pd.read_parquet(changed / "train_ratings.parquet")
    train.iloc[:-1].to_parquet(changed / "train_ratings.parquet", index=False)
    with pytest.raises(ModelError, match=r"train_ratings\.parquet: damaged or changed"):
        load_model_dir(changed)
    reseal(changed)
    assert len(load_model_dir(changed).train) == len(train) - 1


def test_model_io_reads_train_ratings_part_files(model: Path, tmp_path: Path) -> None:
    """``train_ratings.parquet`` as a folder of Parquet part files (Spark's layout)."""
    parts = _copy(model, tmp_path)
    train = pd.read_parquet(parts / "train_ratings.parquet")
    (parts / "train_ratings.parquet").unlink()
    (parts / "train_ratings.parquet").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(train)), 2)):
        train.iloc[rows].to_parquet(parts / "train_ratings.parquet" / f"part-{i}.parquet")
    reseal(parts)
    got = load_model_dir(parts).train
    pd.testing.assert_frame_equal(got.reset_index(drop=True), train.reset_index(drop=True))
    (parts / "train_ratings.parquet" / "part-1.parquet").unlink()
    with pytest.raises(ModelError, match=r"part-1\.parquet: listed in the model's manifest\.json"):
        load_model_dir(parts)


def test_missing_model_folder_reported_as_such(tmp_path: Path) -> None:
    for load in (load_model_dir, read_model, check_model_dir):
        with pytest.raises(ModelError, match=r"model folder .*nowhere does not exist"):
            load(tmp_path / "nowhere")
        with pytest.raises(ModelError, match=r"not a movierec model folder \(no model\.json\)"):
            load(tmp_path)
        (tmp_path / "file").write_text("x")
        with pytest.raises(ModelError, match="is not a folder"):
            load(tmp_path / "file")


def test_unlisted_file_the_reader_would_use_is_refused(model: Path, tmp_path: Path) -> None:
    """An id map that appeared after saving (from another model) is not trusted."""
    extra = _copy(model, tmp_path)
    np.save(extra / "item_ids.npy", np.arange(10_000_000, dtype=np.int64))
    with pytest.raises(ModelError, match=r"item_ids\.npy: not in the model's manifest\.json"):
        read_model(extra)
    (extra / "item_ids.npy").unlink()
    (extra / "notes.txt").write_text("a file nobody reads is harmless")
    assert read_model(extra).version == read_model(model).version


def test_manifest_required_when_model_json_says_so(model: Path, tmp_path: Path) -> None:
    gone = _copy(model, tmp_path)
    (gone / MANIFEST).unlink()
    for load in (read_model, load_model_dir):
        with pytest.raises(ModelError, match=r"manifest\.json is missing"):
            load(gone)
    garbled = _copy(model, tmp_path, "garbled")
    (garbled / MANIFEST).write_text('{"files": 3}')
    with pytest.raises(ModelError, match="unreadable manifest"):
        read_model(garbled)


def test_legacy_folder_without_manifest_loads(
    model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Folders saved before manifests: read unverified (one warning), version from
    model.json as before."""
    import hashlib
    import logging

    legacy = _copy(model, tmp_path)
    meta = json.loads((legacy / "model.json").read_text())
    del meta["integrity"]
    (legacy / "model.json").write_text(json.dumps(meta))
    (legacy / MANIFEST).unlink()
    # An earlier CLI test may have set the "movierec" logger to ERROR (-q): ask for warnings.
    with caplog.at_level(logging.WARNING, logger="movierec.service.model_reader"):
        arrays = read_model(legacy)
    records = [r for r in caplog.records if r.name == "movierec.service.model_reader"]
    assert arrays.version == hashlib.sha256((legacy / "model.json").read_bytes()).hexdigest()[:12]
    assert ["not verified" in r.getMessage() for r in records] == [True]
    assert load_model_dir(legacy).params.rank == 6


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda good: good[:-4], "truncated or damaged"),
        (lambda good: good + b"\0" * 8, "truncated or damaged"),
        (lambda good: b"not numpy at all", "not a numpy .npy file"),
    ],
    ids=["truncated", "padded", "garbage"],
)
def test_parse_npy_refuses_bad_bytes(tmp_path: Path, change: Any, needle: str) -> None:
    import io

    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    buf = io.BytesIO()
    np.save(buf, arr)
    good = buf.getvalue()
    np.testing.assert_array_equal(parse_npy(good, tmp_path / "a.npy"), arr)
    with pytest.raises(ModelError, match=needle):
        parse_npy(change(good), tmp_path / "a.npy")


def test_parse_npy_refuses_pickles(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="object array"):
        parse_npy(buf.getvalue(), tmp_path / "o.npy")


def test_arrays_are_private_and_read_only(model: Path) -> None:
    """No array of a loaded model is a memory map of a file in the folder."""
    arrays = read_model(model)
    seen = arrays.data.seen
    for a in (
        arrays.user_factors,
        arrays.item_factors,
        seen.seen_indptr,
        seen.seen_items,
        seen.seen_ratings,
        seen.item_counts,
    ):
        base = a
        while getattr(base, "base", None) is not None:
            base = base.base
        assert not isinstance(a, np.memmap) and not isinstance(base, (np.memmap, mmap.mmap))
        assert not a.flags.writeable
