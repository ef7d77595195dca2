"""Atomic output folders: all or nothing, and never clobber a foreign folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    monkeypatch.setattr(atomic, "_RENAMEAT2", None)  # the two-rename fallback
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


# --------------------------------------------------------------------------- issue 16: kills

_WRITER = """
import sys
from pathlib import Path
from typing import Any

import movierec.atomic as atomic

root, gen, fallback, once = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
if fallback:
    atomic._RENAMEAT2 = None
print("ready", flush=True)
while True:
    gen += 1
    with atomic.atomic_dir(root / "out", replace_if="done.txt") as tmp:
        for k in range(6):
            (tmp / f"part-{k}.bin").write_bytes(bytes([gen % 251]) * 300_000)
        (tmp / "done.txt").write_text(str(gen))
    with atomic.atomic_files(root / "big.csv") as (t,), open(t, "w") as fh:
        fh.writelines(f"{gen},{i}\\n" for i in range(40_000))
        fh.write("end\\n")
    if once == "1":
        break
"""


def _write(root: Path, gen: int, *, fallback: bool = False, once: bool = True) -> Any:
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), str(gen), "1" if fallback else "0",
         "1" if once else "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _assert_whole(root: Path) -> None:
    """The folder output and the file output are each one complete generation."""
    out = root / "out"
    gen = int((out / "done.txt").read_text())
    parts = sorted(p.name for p in out.iterdir() if p.name != "done.txt")
    assert parts == [f"part-{k}.bin" for k in range(6)]
    for k in range(6):
        assert (out / f"part-{k}.bin").read_bytes() == bytes([gen % 251]) * 300_000
    lines = (root / "big.csv").read_text().splitlines()
    assert len(lines) == 40_001 and lines[-1] == "end"
    assert len({line.split(",")[0] for line in lines[:-1]}) == 1


@pytest.mark.slow
@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_kill_at_random_moments_keeps_previous_output_and_next_run_leaves_no_litter(
    tmp_path: Path, fallback: bool
) -> None:
    """Issue 16: SIGKILL a writer at seeded random moments, again and again. With the
    one-step exchange the previous output is whole and visible after every kill; with the
    two-rename fallback it is whole at the latest after the next run's clean-up. The next
    successful run removes every temporary the killed runs left (files and folders)."""
    import random
    import signal
    import time

    from movierec import atomic

    if not fallback and atomic._RENAMEAT2 is None:
        pytest.skip("renameat2 is not available here")
    rng = random.Random(16)
    first = _write(tmp_path, 0)
    assert first.wait(timeout=120) == 0
    _assert_whole(tmp_path)
    litter = 0
    for _ in range(8):
        child = _write(tmp_path, 1000, fallback=fallback, once=False)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.6))
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
        litter += len([p for p in tmp_path.iterdir() if p.name.startswith(".")])
        if fallback:
            atomic.remove_stale_temps(tmp_path / "out")  # what the next run does first
        _assert_whole(tmp_path)
    assert litter > 0, "no kill landed mid-write: the test did not test anything"
    last = _write(tmp_path, 5000, fallback=fallback)
    assert last.wait(timeout=120) == 0
    _assert_whole(tmp_path)
    assert int((tmp_path / "out" / "done.txt").read_text()) == 5001
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "out"]


def test_exchange_swaps_two_folders_in_one_step(tmp_path: Path) -> None:
    from movierec import atomic

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("A")
    (b / "x").write_text("B")
    if not atomic.exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert (a / "x").read_text() == "B" and (b / "x").read_text() == "A"
    with pytest.raises(FileNotFoundError):
        atomic.exchange(tmp_path / "missing", a)


def test_failed_exchange_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movierec import atomic

    target = tmp_path / "out"
    with atomic_dir(target, replace_if="summary.json") as tmp:
        (tmp / "summary.json").write_text("old")

    def broken(a: Path, b: Path) -> bool:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(atomic, "exchange", broken)
    with (
        pytest.raises(OSError, match="I/O error"),
        atomic_dir(target, replace_if="summary.json") as tmp,
    ):
        (tmp / "summary.json").write_text("new")
    assert (target / "summary.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def test_next_run_restores_an_output_moved_aside_and_removes_stale_files(tmp_path: Path) -> None:
    """A run killed between the fallback's two renames left ``out`` moved aside and the new
    folder unpublished; a killed file writer left a temp file. The next run puts the previous
    output back first, then removes every stale temporary (only ours: this host, dead pid)."""
    import os

    from movierec import atomic

    pid, host = _dead_pid(), atomic.host_tag()
    old = tmp_path / f".out.old-0123abcd-{pid}-{host}"
    old.mkdir()
    (old / "summary.json").write_text("previous")
    new = tmp_path / f".out.tmp-89abcdef-{pid}-{host}"
    new.mkdir()
    (new / "summary.json").write_text("unpublished")
    stale_file = tmp_path / f".big.csv.tmp-00000000-{pid}-{host}"
    stale_file.write_text("half")
    probe = tmp_path / f".out.probe-11111111-{pid}-{host}"
    probe.write_text("")
    live = tmp_path / f".big.csv.tmp-22222222-{os.getpid()}-{host}"
    live.write_text("being written")
    other_host = tmp_path / f".big.csv.tmp-33333333-{pid}-not-{host}"
    other_host.write_text("someone else's")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out", replace_if="summary.json"):
        assert (tmp_path / "out" / "summary.json").read_text() == "previous"
        raise RuntimeError("stop before publishing")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name, other_host.name])


def test_atomic_files_next_run_removes_temp_files_of_killed_runs(tmp_path: Path) -> None:
    from movierec import atomic
    from movierec.atomic import atomic_files

    pid, host = _dead_pid(), atomic.host_tag()
    for tag in ("aaaaaaaa", "bbbbbbbb"):
        (tmp_path / f".recs.csv.tmp-{tag}-{pid}-{host}").write_bytes(b"x" * 1000)
    folder = tmp_path / f".other.tmp-cccccccc-{pid}-{host}"
    folder.mkdir()
    (folder / "f").write_text("x")
    with atomic_files(tmp_path / "recs.csv") as (tmp,):
        tmp.write_text("ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recs.csv"]


def test_published_name_maps_temporary_names() -> None:
    from movierec.atomic import published_name, temp_name

    assert published_name(temp_name("out")) == "out"
    assert published_name(".out.tmp-0123abcd") == "out"  # earlier versions
    old = temp_name("out", "old")
    assert published_name(old) == old  # only an output being built maps to its name
    assert published_name("out") == "out"


@pytest.mark.slow
def test_recommend_out_killed_mid_write_keeps_file_and_next_run_cleans(
    tmp_path: Path, ml_small: Path
) -> None:
    """Issue 16, through the real CLI: `recommend --out big.csv` SIGKILLed while its temporary
    file is being written (seeded random delays after it appears) leaves the previous
    big.csv whole; the next successful run removes every temporary the kills left."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cli = [sys.executable, "-m", "movierec"]
    model, big = tmp_path / "model", tmp_path / "big.csv"
    subprocess.run(
        [*cli, "train", "--engine", "local", "--data", str(ml_small / "ratings.csv"),
         "--out", str(model), "--rank", "4", "--max-iter", "2", "-q"],
        check=True, env=env, timeout=600,
    )  # fmt: skip
    rec = [*cli, "recommend", "--model", str(model), "--all", "--n", "300", "--out", str(big)]
    subprocess.run([*rec, "-q"], check=True, env=env, timeout=600)
    previous = big.read_bytes()
    assert previous.count(b"\n") == 610 * 300 + 1
    rng = random.Random(1616)
    hits = 0
    for _ in range(3):
        proc = subprocess.Popen([*rec, "-q"], env=env)
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(".big.csv.tmp-*")):
            assert proc.poll() is None, "the run ended before it wrote anything"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        hits += len(list(tmp_path.glob(".big.csv.tmp-*")))
        assert big.read_bytes() == previous  # the previous output, whole and visible
    assert hits > 0, "every kill came after the rename: nothing was tested"
    subprocess.run([*rec, "-q"], check=True, env=env, timeout=600)
    assert big.read_bytes() == previous  # same model, same lists
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "model"]
