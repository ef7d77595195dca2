"""Inputs and outputs on Hadoop filesystems (movierec.hadoopfs).

The Spark tests use Hadoop's ViewFs (``viewfs://NAME/...``, part of the Hadoop client in
pip's pyspark): a real non-local Hadoop filesystem, mounted here onto a temporary folder,
that Python's own file functions cannot open. Everything movierec does with it goes through
the Hadoop FileSystem API of the Spark driver, exactly as with hdfs:// or s3a://.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from movierec import hadoopfs
from movierec.cli import cli
from movierec.config import DataConfig
from movierec.errors import ConfigError, DataError

# ------------------------------------------------------------------ no Spark needed


def test_remote_uris_are_recognised_and_kept_intact() -> None:
    assert hadoopfs.is_remote("hdfs://nn:8020/lake/ratings.csv")
    assert hadoopfs.is_remote("s3a://bucket/runs/1")
    assert not hadoopfs.is_remote("file:///tmp/x")
    assert not hadoopfs.is_remote("/tmp/x")
    assert not hadoopfs.is_remote(Path("hdfs:/x"))  # already a Path: local by construction
    assert not hadoopfs.is_remote(None)
    assert hadoopfs.to_local("file:///tmp/a%20b") == Path("/tmp/a b")
    with pytest.raises(ConfigError, match="name no host"):
        hadoopfs.to_local("file://otherhost/tmp/x")
    # pydantic keeps URIs as strings (Path() would turn hdfs://nn into hdfs:/nn)
    cfg = DataConfig(path="hdfs://nn:8020/lake/ratings.csv", movies="file:///tmp/m.csv")
    assert cfg.path == "hdfs://nn:8020/lake/ratings.csv"
    assert cfg.movies == Path("/tmp/m.csv")
    assert json.loads(cfg.model_dump_json())["path"] == "hdfs://nn:8020/lake/ratings.csv"


def test_spark_uri_maps_staged_paths_to_the_remote_folder(tmp_path: Path) -> None:
    plain = tmp_path / "model" / "engine" / "als"
    assert hadoopfs.spark_uri(plain) == plain.resolve().as_uri()
    with hadoopfs._redirect(tmp_path, "hdfs://nn/runs/.out.tmp-1"):
        # the output itself, or atomic_dir's temporary name for it, and nested temp names
        got = hadoopfs.spark_uri(tmp_path / ".out.tmp-0123abcd" / "model" / "engine" / "als")
        assert got == "hdfs://nn/runs/.out.tmp-1/model/engine/als"
        nested = tmp_path / "out" / "model" / ".recommender.tmp-89abcdef" / "engine"
        assert hadoopfs.spark_uri(nested) == "hdfs://nn/runs/.out.tmp-1/model/recommender/engine"
        assert hadoopfs.spark_uri(plain.parent.parent.parent.parent / "x") != ""
    assert hadoopfs.spark_uri(tmp_path / "out" / "a") == (tmp_path / "out" / "a").as_uri()


def test_errors_in_staged_files_name_the_remote_uri(tmp_path: Path) -> None:
    local = tmp_path / "ratings.csv"
    err = DataError("rating 7 is above 5", path=str(local), line=12, column="rating")
    moved = hadoopfs.relocate_error(err, local, "hdfs://nn/lake/ratings.csv")
    assert str(moved) == "hdfs://nn/lake/ratings.csv, line 12, column 'rating': rating 7 is above 5"
    sibling = DataError("bad genres", path=str(tmp_path / "movies.csv"), line=3)
    assert hadoopfs.relocate_error(sibling, local, "hdfs://nn/lake/ratings.csv").path == (
        "hdfs://nn/lake/movies.csv"
    )
    folder = tmp_path / "ml"
    inner = DataError("x", path=str(folder / "ratings.csv"), line=2)
    assert hadoopfs.relocate_error(inner, folder, "s3a://b/ml").path == "s3a://b/ml/ratings.csv"


def test_local_only_options_refuse_uris() -> None:
    result = CliRunner().invoke(cli, ["similar", "--model", "hdfs://nn/models/m1", "--movie", "1"])
    assert result.exit_code == 2
    assert "takes a local path" in result.output


# ------------------------------------------------------------------ through Spark's Hadoop API


@pytest.fixture()
def lake(spark: Any, tmp_path: Path) -> tuple[str, Path]:
    """A fresh ViewFs mount ``viewfs://NAME/lake`` → ``tmp_path/lake`` (a new NAME each
    time: Hadoop caches FileSystem instances per scheme and authority)."""
    name = f"mr{uuid.uuid4().hex[:10]}"
    root = tmp_path / "lake"
    root.mkdir()
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set(f"fs.viewfs.mounttable.{name}.link./lake", root.resolve().as_uri())
    return f"viewfs://{name}/lake", root


@pytest.fixture()
def small_lake(lake: tuple[str, Path], ml_small: Path) -> tuple[str, Path]:
    """The first 6,000 ratings of ml-latest-small and its movies, in the lake."""
    uri, root = lake
    (root / "ml").mkdir()
    lines = (ml_small / "ratings.csv").read_text(encoding="utf-8").splitlines()[:6001]
    (root / "ml" / "ratings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "ml" / "movies.csv").write_bytes((ml_small / "movies.csv").read_bytes())
    return uri, root


def _ok(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and "tmp" in p.name)


@pytest.mark.spark
def test_train_reads_and_writes_a_hadoop_filesystem(
    small_lake: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, root = small_lake
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(staging))
    uploaded: list[Path] = []
    real_upload = hadoopfs.HadoopFS.upload

    def spy(self: Any, local: Path, dest: str) -> None:
        uploaded.extend(p.relative_to(local) for p in Path(local).rglob("*") if p.is_file())
        real_upload(self, local, dest)

    monkeypatch.setattr(hadoopfs.HadoopFS, "upload", spy)
    result = _ok([
        "train", "--engine", "spark", "--model", "biased-als", "--rank", "4", "--max-iter", "3",
        "--data", f"{uri}/ml/ratings.csv", "--out", f"{uri}/models/m1", "--json",
    ])  # fmt: skip
    info = json.loads(result.stdout)
    assert info["load"]["path"] == f"{uri}/ml/ratings.csv"
    assert info["load"]["rows_kept"] == 6000
    model = root / "models" / "m1"
    meta = json.loads((model / "model.json").read_text())
    assert meta["has_titles"]  # movies.csv beside ratings.csv was found through the lake
    assert meta["training_data"]["ratings"] == 6000
    for part in ("factors.npz", "train_ratings.parquet", "engine/als/metadata"):
        assert (model / part).exists(), part
    assert list((model / "engine" / "biases" / "user_bias").glob("*.parquet"))
    # Spark's own model parts went straight to the remote folder: never staged locally
    assert not [p for p in uploaded if p.parts[:2] == ("engine", "als")]
    assert not [p for p in uploaded if "user_bias" in p.parts]
    assert (Path("engine") / "biases" / "mean.json") in uploaded
    assert _hidden(root / "models") == []
    assert list(staging.iterdir()) == []  # local staging removed

    # the remote model answers like a local copy of it
    recs = json.loads(
        _ok(["recommend", "--model", f"{uri}/models/m1", "--user", "1", "--json"]).stdout
    )
    local_recs = json.loads(
        _ok(["recommend", "--model", str(model), "--user", "1", "--json"]).stdout
    )
    assert recs == local_recs and len(recs) == 10
    assert list(staging.iterdir()) == []


@pytest.mark.spark
def test_remote_output_is_atomic(
    small_lake: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, root = small_lake
    args = ["train", "--engine", "local", "--rank", "3", "--max-iter", "2",
            "--data", f"{uri}/ml/ratings.csv", "--out", f"{uri}/models/m2"]  # fmt: skip
    (root / "models").mkdir()
    stale = f".m2.tmp-deadbeef-{2**22 + 12345}-{socket.gethostname()}"
    (root / "models" / stale).mkdir()  # left by a killed run: its process is gone
    alive = f".m2.tmp-0badf00d-1-{socket.gethostname()}"  # pid 1 is alive: left alone
    (root / "models" / alive).mkdir()
    _ok(args)
    first = (root / "models" / "m2" / "model.json").read_text()
    assert _hidden(root / "models") == [alive]

    # a failure while the output is built: the earlier model stays, nothing half-written
    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr("movierec.model_io.write_serving_index", boom)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3 and "disk full" in result.output
    assert (root / "models" / "m2" / "model.json").read_text() == first
    assert _hidden(root / "models") == [alive]
    monkeypatch.undo()

    # replacing an earlier model works; a folder that is not a movierec output is refused
    (root / "models" / "m2" / "from-the-first-run").write_text("x")
    _ok(args)
    assert (root / "models" / "m2" / "model.json").is_file()
    assert not (root / "models" / "m2" / "from-the-first-run").exists()  # the folder was replaced
    assert _hidden(root / "models") == [alive]
    (root / "models" / "notes").mkdir()
    (root / "models" / "notes" / "todo.txt").write_text("mine")
    args[-1] = f"{uri}/models/notes"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert f"{uri}/models/notes already exists and is not a movierec output" in result.output
    assert (root / "models" / "notes" / "todo.txt").read_text() == "mine"


@pytest.mark.spark
def test_bad_rows_in_a_remote_file_are_named_by_uri(small_lake: tuple[str, Path]) -> None:
    uri, root = small_lake
    with open(root / "ml" / "ratings.csv", "a", encoding="utf-8") as fh:
        fh.write("1,50,9.5,964982931\nseven,50,4,964982931\n")
    result = _ok([
        "eda", "--engine", "local", "--data", f"{uri}/ml/ratings.csv",
        "--out", f"{uri}/eda", "--json",
    ])  # fmt: skip
    section = json.loads(result.stdout)
    assert section["rejected"] == 2
    rejects = pd.read_csv(root / "eda" / "rejects.csv")
    assert sorted(rejects["line"]) == [6002, 6003]
    assert (root / "eda" / "eda.json").is_file()

    (root / "bad.csv").write_text("user,movie,rating\n1,2,3\n1,3,banana\n1,4,nope\n")
    result = CliRunner().invoke(
        cli, ["eda", "--engine", "local", "--data", f"{uri}/bad.csv", "--out", f"{uri}/eda2"]
    )
    assert result.exit_code == 2
    assert f"{uri}/bad.csv" in result.output
    assert not (root / "eda2").exists() and _hidden(root) == []


@pytest.mark.spark
def test_missing_inputs_and_unknown_schemes_are_clear_errors(
    lake: tuple[str, Path], spark: Any, tmp_path: Path
) -> None:
    uri, _ = lake
    out = str(tmp_path / "x")
    result = CliRunner().invoke(
        cli, ["eda", "--engine", "local", "--data", f"{uri}/nothing.csv", "--out", out]
    )
    assert result.exit_code == 2
    assert f"{uri}/nothing.csv: no such file or folder" in result.output
    fs = hadoopfs.HadoopFS(spark)
    with pytest.raises(ConfigError, match=r"no Hadoop filesystem for 's3a://'.*hadoop-aws"):
        fs.exists("s3a://bucket/ratings.csv")


@pytest.mark.spark
def test_run_writes_its_whole_output_to_a_hadoop_filesystem(small_lake: tuple[str, Path]) -> None:
    uri, root = small_lake
    _ok([
        "run", "--engine", "local", "--data", f"{uri}/ml", "--out", f"{uri}/runs/r1", "-q",
        "--models", "als", "--ranks", "4", "--reg-params", "0.1", "--max-iters", "3",
        "--folds", "2", "--train-fractions", "0.8", "--recommender", "rating-model",
    ])  # fmt: skip
    out = root / "runs" / "r1"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["ratings"] == 6000
    for part in ("report.html", "recommendations.parquet", "model/model.json", "plots"):
        assert (out / part).exists(), part
    assert os.listdir(root / "runs") == ["r1"]


@pytest.mark.spark
def test_names_with_spaces_and_equals_signs(small_lake: tuple[str, Path]) -> None:
    # Partition-style names (key=value) and spaces must reach Hadoop unquoted.
    uri, root = small_lake
    (root / "ml" / "my ratings.csv").write_bytes((root / "ml" / "ratings.csv").read_bytes())
    out = f"{uri}/runs/date=2026-11-24 v1"
    result = _ok([
        "train", "--engine", "local", "--rank", "3", "--max-iter", "2",
        "--data", f"{uri}/ml/my ratings.csv", "--out", out, "--json",
    ])  # fmt: skip
    assert json.loads(result.stdout)["load"]["path"] == f"{uri}/ml/my ratings.csv"
    assert (root / "runs" / "date=2026-11-24 v1" / "model.json").is_file()
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["date=2026-11-24 v1"]


def test_one_slash_hadoop_uris_are_remote() -> None:
    assert hadoopfs.is_remote("hdfs:/user/me/ratings.csv")
    assert hadoopfs.to_local("file:/tmp/x") == Path("/tmp/x")
    assert not hadoopfs.is_remote("C:/data/ratings.csv")  # a drive letter is not a scheme


@pytest.mark.spark
def test_output_left_aside_by_a_killed_run_is_restored(lake: tuple[str, Path], spark: Any) -> None:
    # Killed between moving the previous output aside and renaming the new one into place:
    # the next run puts the previous output back; a live process's folder is left alone.
    uri, root = lake
    dead = root / f".m3.old-0123abcd-{2**22 + 4321}-{socket.gethostname()}"
    dead.mkdir()
    (dead / "model.json").write_text("{}")
    live = root / f".m4.old-0123abcd-1-{socket.gethostname()}"
    live.mkdir()
    fs = hadoopfs.HadoopFS(spark)
    hadoopfs.remove_stale_remote_temps(fs, f"{uri}/m3")
    hadoopfs.remove_stale_remote_temps(fs, f"{uri}/m4")
    assert (root / "m3" / "model.json").read_text() == "{}" and not dead.exists()
    assert live.exists() and not (root / "m4").exists()


def test_staging_folders_of_killed_runs_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: a run killed while staging (an input can be as large as the data) leaves its
    movierec-in/out-PID-HOST-* folder; the next staging removes it, never a live one."""
    import os
    import subprocess
    import sys
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    from movierec.hadoopfs import temps

    host = temps._host()
    dead = tmp_path / f"movierec-in-{proc.pid}-{host}-abcd1234"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "ratings.csv").write_text("1,2,3\n")
    live = tmp_path / f"movierec-out-{os.getpid()}-{host}-efgh5678"
    live.mkdir()
    other = tmp_path / f"movierec-in-{proc.pid}-not-{host}-ijkl9012"
    other.mkdir()
    made = temps._staging_dir("in")
    assert made.name.startswith(f"movierec-in-{os.getpid()}-{host}-")
    assert not dead.exists() and live.exists() and other.exists()
