"""Atomic output folders: all or nothing, and never clobber a foreign folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.atomic import atomic_dir
from movierec.errors import MovierecError


def test_success_renames_into_place(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target, replace_if="summary.json") as tmp:
        assert tmp != target and tmp.parent == tmp_path
        (tmp / "summary.json").write_text("{}")
    assert (target / "summary.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_replaces_own_output_but_not_foreign_folders(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("1")
    with atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("2")
    assert (target / "summary.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_text("x")
    with (
        pytest.raises(MovierecError, match="not a movierec output"),
        atomic_dir(foreign, replace_if="summary.json"),
    ):
        pass
    assert (foreign / "cat.jpg").exists()

    # A failed re-run keeps the previous good output.
    with pytest.raises(RuntimeError), atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("3")
        raise RuntimeError("boom")
    assert (target / "summary.json").read_text() == "2"


def test_failed_swap_restores_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from movierec import atomic

    target = tmp_path / "out"
    with atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("old")
    real_replace = os.replace
    calls: list[tuple[str, str]] = []

    def flaky(src: str, dst: str) -> None:
        calls.append((str(src), str(dst)))
        if len(calls) == 2:  # the second rename (new output into place) fails
            raise OSError("device busy")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with (
        pytest.raises(OSError, match="device busy"),
        atomic_dir(target, replace_if="summary.json") as tmp,
    ):
        (tmp / "summary.json").write_text("new")
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert (target / "summary.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_files_all_or_nothing(tmp_path: Path) -> None:
    from movierec.atomic import atomic_files

    a, b = tmp_path / "x.csv", tmp_path / "sub" / "y.csv"
    with atomic_files(a, b) as (ta, tb):
        ta.write_text("1")
        tb.write_text("2")
        assert not a.exists() and not b.exists()
    assert a.read_text() == "1" and b.read_text() == "2"
    with pytest.raises(RuntimeError), atomic_files(tmp_path / "z.csv") as (tz,):
        tz.write_text("partial")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "x.csv"]


def test_temp_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path: Path) -> None:
    """A SIGKILLed run leaves its hidden temp folder; the next run into the same target removes
    it, but never a folder of a live process, another host, or without an owner file."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    from movierec.atomic import OWNER_FILE

    target = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from movierec.atomic import atomic_dir\n"
         "with atomic_dir(Path(sys.argv[1])) as t:\n"
         "    (t / 'half.txt').write_text('x'); print(t, flush=True); time.sleep(60)\n",
         str(target)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    dead_tmp = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert (dead_tmp / "half.txt").exists() and not target.exists()
    live = tmp_path / ".out.tmp-live0000"
    live.mkdir()
    (live / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")
    other_host = tmp_path / ".out.tmp-other000"
    other_host.mkdir()
    (other_host / OWNER_FILE).write_text(f"not-{socket.gethostname()} {child.pid}")
    unknown = tmp_path / ".out.tmp-unknown0"
    unknown.mkdir()

    with atomic_dir(target) as tmp:
        (tmp / "done.txt").write_text("ok")
    assert not dead_tmp.exists()
    assert live.exists() and other_host.exists() and unknown.exists()
    assert sorted(p.name for p in target.iterdir()) == ["done.txt"]  # no owner file published
