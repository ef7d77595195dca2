"""CLI behaviour that needs no JVM: `similar`, --quiet/--verbose on every verb, friendly errors.

Models are trained with the local engine on ml-latest-small, so these tests are fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from movierec.cli import cli


def invoke(args: list[str], **kwargs: Any) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kwargs)


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), text
    return lines[-1]


@pytest.fixture(scope="module")
def small_ratings(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    """The first 20,000 ratings of ml-latest-small (every verb below runs in seconds)."""
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    pd.read_csv(ml_small / "ratings.csv").iloc[:20_000].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    out = tmp_path_factory.mktemp("model") / "model"
    result = invoke(
        ["train", "--engine", "local", "--data", str(ml_small / "ratings.csv"), "--movies",
         str(ml_small / "movies.csv"), "--out", str(out), "--rank", "8", "--max-iter", "5",
         "--model", "biased-als", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def cosine_top(model: Path, movie_id: int, k: int) -> tuple[list[int], np.ndarray]:
    """The k nearest movies by cosine of item factors, computed here from factors.npz."""
    with np.load(model / "factors.npz") as z:
        ids, factors = z["item_ids"], z["item_factors"].astype(np.float64)
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    row = int(np.flatnonzero(ids == movie_id)[0])
    cos = unit @ unit[row]
    cos[row] = -np.inf
    order = np.argsort(-cos, kind="stable")[:k]
    return [int(ids[i]) for i in order], cos[order]


# ---------------------------------------------------------------------- similar


def test_similar_by_title_is_the_cosine_neighbourhood(model_dir: Path) -> None:
    result = invoke(
        ["similar", "--model", str(model_dir), "--movie", "toy story 1995", "--k", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["movie_id"] == 1 and got["title"] == "Toy Story (1995)"
    want_ids, want_cos = cosine_top(model_dir, 1, 5)
    assert [m["movie_id"] for m in got["similar"]] == want_ids
    assert [m["score"] for m in got["similar"]] == pytest.approx(want_cos, abs=1e-5)
    assert all(m["title"] for m in got["similar"])

    # The same movie by id, by another spelling, and as a table.
    by_id = invoke(["similar", "--model", str(model_dir), "--movie", "1", "--k", "5", "--json"])
    assert json.loads(by_id.stdout)["similar"] == got["similar"]
    table = invoke(["similar", "--model", str(model_dir), "--movie", "matrix 1999", "--k", "3"])
    assert table.exit_code == 0, table.output
    assert "Most similar to Matrix, The (1999) [id 2571]" in table.stdout
    want, _ = cosine_top(model_dir, 2571, 3)
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert [int(r.split("│")[2]) for r in rows] == want  # the "movie" column, in order


def test_similar_genre_and_popularity_filters(model_dir: Path, ml_small: Path) -> None:
    args = ["similar", "--model", str(model_dir), "--movie", "2571", "--k", "5", "--json"]
    result = invoke([*args, "--genre", "Comedy", "--min-ratings", "20"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["similar"]
    ratings = pd.read_csv(ml_small / "ratings.csv")
    counts = ratings["movieId"].value_counts()
    assert len(items) == 5
    assert all("Comedy" in m["genres"] and counts[m["movie_id"]] >= 20 for m in items)
    bad = invoke([*args, "--genre", "Cooking"])
    assert bad.exit_code == 2 and "unknown genre 'Cooking'" in one_error_line(bad.output)


def test_ambiguous_title_lists_candidates_and_says_how_to_pick(model_dir: Path) -> None:
    result = invoke(["similar", "--model", str(model_dir), "--movie", "Toy Story"])
    assert result.exit_code == 2
    assert "1. Toy Story (1995)  [id 1]" in result.stderr
    assert "2. Toy Story 2 (1999)  [id 3114]" in result.stderr
    line = one_error_line(result.stderr)
    assert "ambiguous" in line and "--pick N" in line and "--movie 1" in line
    assert result.stdout == ""

    picked = invoke(
        ["similar", "--model", str(model_dir), "--movie", "Toy Story", "--pick", "2", "--json"]
    )
    assert picked.exit_code == 0 and json.loads(picked.stdout)["movie_id"] == 3114
    far = invoke(["similar", "--model", str(model_dir), "--movie", "Toy Story", "--pick", "40"])
    assert far.exit_code == 2 and "out of range" in one_error_line(far.output)
    none = invoke(["similar", "--model", str(model_dir), "--movie", "qwxzzy vbnm"])
    assert none.exit_code == 2 and "no movie title matches" in one_error_line(none.output)


def test_ambiguous_title_on_a_terminal_asks(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movierec.cli import similar as similar_module

    monkeypatch.setattr(similar_module, "_interactive", lambda: True)
    result = invoke(["similar", "--model", str(model_dir), "--movie", "matrix"], input="2\n")
    assert result.exit_code == 0, result.output
    assert "Which one" in result.stderr
    # Candidate 2 is the more rated of the two 2003 sequels.
    assert "Most similar to Matrix Reloaded, The (2003) [id 6365]" in result.stdout


# ---------------------------------------------------------------------- quiet / verbose


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_verb_takes_quiet_and_verbose() -> None:
    verbs = _commands(cli)
    assert ("similar",) in verbs and ("datasets", "synth") in verbs
    for verb in verbs:
        command: Any = cli
        for part in verb:
            command = command.commands[part]
        options = {opt for p in command.params for opt in getattr(p, "opts", [])}
        assert {"-q", "--quiet", "-v", "--verbose"} <= options, verb
    help_text = invoke(["similar", "--help"]).output
    assert "Example" in help_text and "movierec similar --model" in help_text


def test_quiet_silences_progress_and_verbose_adds_logs(small_ratings: Path, tmp_path: Path) -> None:
    base = ["train", "--engine", "local", "--data", str(small_ratings), "--max-iter", "2"]
    normal = invoke([*base, "--out", str(tmp_path / "a")])
    assert normal.exit_code == 0, normal.output
    assert "movierec: fit done" in normal.stderr  # one line per stage when not a terminal
    assert "INFO" not in normal.stderr

    quiet = invoke([*base, "--out", str(tmp_path / "b"), "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""

    verbose = invoke([*base, "--out", str(tmp_path / "c"), "-v"])
    assert "INFO movierec" in verbose.stderr and "DEBUG" not in verbose.stderr
    debug = invoke([*base, "--out", str(tmp_path / "d"), "-vv"])
    assert "DEBUG movierec" in debug.stderr


def test_quiet_and_verbose_on_the_other_verbs(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # similar: the scorer logs the model load at info.
    args = ["similar", "--model", str(model_dir), "--movie", "1", "--json"]
    assert "INFO movierec.service.scorer: model" in invoke([*args, "-v"]).stderr
    assert invoke([*args, "-q"]).stderr == ""
    # datasets synth and recommend --out: -q leaves stderr empty.
    synth = invoke(["datasets", "synth", "--ratings", "2k", "--out", str(tmp_path / "s.parquet")])
    assert synth.exit_code == 0
    quiet_synth = ["datasets", "synth", "--ratings", "2k", "-q"]
    assert invoke([*quiet_synth, "--out", str(tmp_path / "t.parquet")]).stderr == ""
    rec = ["recommend", "--model", str(model_dir), "--user", "1", "--out", str(tmp_path / "r")]
    assert "wrote" in invoke(rec).stderr
    assert invoke([*rec, "-q"]).stderr == ""
    # serve: the log level handed to uvicorn follows the flags.
    from movierec.service import server

    levels = []
    monkeypatch.setattr(server, "serve", lambda *a, **kw: levels.append(kw["log_level"]))
    for flags in ([], ["-q"], ["-v"]):
        assert invoke(["serve", "--model", str(model_dir), *flags]).exit_code == 0
    assert levels == ["info", "error", "debug"]


# ---------------------------------------------------------------------- friendly errors


def _movierec(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("movierec")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, env=env)


def test_missing_java_is_one_line_before_spark_starts(small_ratings: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "JAVA_HOME"))}
    args = ["train", "--engine", "spark", "--data", str(small_ratings), "-q"]
    # No java on PATH at all (only the venv's bin folder).
    no_java = {**env, "PATH": str(Path(sys.executable).parent)}
    proc = _movierec(*args, "--out", str(tmp_path / "m1"), env=no_java)
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc.stderr)
    assert "Java was not found" in line and "openjdk-17" in line
    assert len([x for x in proc.stderr.splitlines() if x.strip()]) == 1
    # JAVA_HOME set to a folder without bin/java (Spark's launcher would use it blindly).
    bad_home = {**env, "JAVA_HOME": str(tmp_path / "no-jdk")}
    proc = _movierec(*args, "--out", str(tmp_path / "m2"), env=bad_home)
    assert proc.returncode == 2, proc.stderr
    assert "JAVA_HOME=" in one_error_line(proc.stderr) and "no bin/java" in proc.stderr
    assert not (tmp_path / "m1").exists() and not (tmp_path / "m2").exists()


def test_unwritable_output_folder_fails_before_the_work(
    small_ratings: Path, model_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "model"  # its parent is a file: nothing can be written there
    result = invoke(["train", "--engine", "local", "--data", str(small_ratings), "--out", str(out)])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert f"cannot write to {blocker}" in line
    assert "fit done" not in result.stderr and "load done" not in result.stderr
    for args in (
        ["run", "--engine", "local", "--data", str(small_ratings), "--out", str(out)],
        ["recommend", "--model", str(model_dir), "--all", "--out", str(blocker / "recs.csv")],
        ["datasets", "synth", "--ratings", "1k", "--out", str(blocker / "s.parquet")],
    ):
        result = invoke(args)
        assert result.exit_code == 2, args
        assert f"cannot write to {blocker}" in one_error_line(result.output), args
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_model_from_another_version_or_incomplete(model_dir: Path, tmp_path: Path) -> None:
    def variant(name: str, version: Any = None, drop: str | None = None) -> Path:
        target = tmp_path / name
        shutil.copytree(model_dir, target)
        if version is not None:
            meta = json.loads((target / "model.json").read_text())
            meta["format_version"] = version
            (target / "model.json").write_text(json.dumps(meta))
        if drop is not None:
            (target / drop).unlink()
        return target

    newer, older = variant("newer", version=99), variant("older", version=0)
    incomplete = variant("incomplete", drop="factors.npz")
    for verb in (["recommend", "--user", "1"], ["similar", "--movie", "1"]):
        result = invoke([verb[0], "--model", str(newer), *verb[1:]])
        assert result.exit_code == 2
        line = one_error_line(result.output)
        assert "format version 99 is not supported" in line, verb
        result = invoke([verb[0], "--model", str(incomplete), *verb[1:]])
        assert result.exit_code == 2 and "factors.npz" in one_error_line(result.output), verb
    result = invoke(["recommend", "--model", str(newer), "--user", "1"])
    assert "newer movierec: upgrade movierec" in result.output
    result = invoke(["recommend", "--model", str(older), "--user", "1"])
    assert "format version 0" in result.output and "retrain the model" in result.output
    result = invoke(["recommend", "--model", str(incomplete), "--user", "1"])
    assert "incomplete: factors.npz missing" in one_error_line(result.output)
    # A missing folder is reported as missing (issue 16), a folder without model.json as
    # not a model folder.
    for verb in (["recommend", "--user", "1"], ["similar", "--movie", "1"]):
        result = invoke([verb[0], "--model", str(tmp_path / "nowhere"), *verb[1:]])
        assert result.exit_code == 2
        assert "model folder" in (line := one_error_line(result.output)), verb
        assert "nowhere does not exist" in line, verb
        result = invoke([verb[0], "--model", str(tmp_path), *verb[1:]])
        assert "not a movierec model folder" in one_error_line(result.output), verb
