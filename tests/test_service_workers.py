"""``movierec serve --workers N``: several server processes behind one port.

A real ``python -m movierec serve --workers 2`` on 127.0.0.1, spoken to over HTTP with a
fresh connection per request, so both workers are reached (SO_REUSEPORT spreads
connections by a hash of the client port). Models: the local engine on ml-latest-small.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from movierec.cli import cli
from movierec.errors import MovierecError
from movierec.service.scorer import Scorer
from test_service import API_KEY, _free_port, _read_small, _train, wait_healthy

ADMIN = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def wmodels(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> dict[str, Path]:
    ratings, movies = _read_small(ml_small)
    root = tmp_path_factory.mktemp("workers") / "models"
    root.mkdir()
    m1, _ = _train(
        ratings, movies, root / "m1", rank=10, reg_param=0.15, max_iter=5, model="biased-als"
    )
    m2, _ = _train(ratings, movies, root / "m2", rank=8, reg_param=0.1, max_iter=5)
    return {"root": root, "m1": m1, "m2": m2}


class Workers:
    """``movierec serve --workers N`` in a subprocess."""

    def __init__(self, model: Path, root: Path, log: Path, n: int = 2) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "movierec", "serve", "--model", str(model)),
                *("--port", str(self.port), "--model-root", str(root), "--workers", str(n)),
            ],
            env=dict(os.environ, MOVIEREC_API_KEY=API_KEY),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(self.url, self.proc, log)

    def log(self) -> str:
        return self.log_path.read_text()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        """One request on a new connection (so any worker may answer)."""
        return httpx.get(self.url + path, timeout=30, **kw)

    def per_worker(
        self, path: str, n: int = 2, tries: int = 400, **kw: Any
    ) -> dict[int, httpx.Response]:
        """A response from each of the ``n`` workers, by worker pid (``X-Worker`` is not
        sent: the pid comes from ``/health`` asked on the same connection)."""
        seen: dict[int, httpx.Response] = {}
        for _ in range(tries):
            with httpx.Client(base_url=self.url, timeout=30) as c:  # one connection
                pid = c.get("/health").json()["worker"]["pid"]
                if pid not in seen:
                    seen[pid] = c.get(path, **kw)
            if len(seen) == n:
                return seen
        raise AssertionError(f"only workers {sorted(seen)} answered {tries} connections")

    def pids(self) -> list[int]:
        return sorted(self.per_worker("/health"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code


@pytest.fixture(scope="module")
def workers(
    wmodels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    srv = Workers(wmodels["m1"], wmodels["root"], tmp_path_factory.mktemp("wlog") / "w.log")
    yield srv
    srv.stop()


def _gone(pid: int) -> bool:
    """Whether a process has exited (a zombie counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait(pred: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def _reloads(metrics: str) -> int:
    m = re.search(r'movierec_model_reloads_total\{result="loaded"\} (\d+)', metrics)
    assert m is not None, metrics[:500]
    return int(m.group(1))


def test_every_worker_answers_exactly(workers: Workers, wmodels: dict[str, Path]) -> None:
    """Both workers serve the same exact lists as the scorer computes in-process, and
    their /health and /metrics say which worker answered."""
    scorer = Scorer.load(wmodels["m1"])
    urow = scorer.user_row("7")
    assert urow is not None
    rows, scores = scorer.recommend_user(urow, 10)
    expected = [(scorer.item_out_ids[r], s) for r, s in zip(rows.tolist(), scores.tolist())]
    answers = workers.per_worker("/users/7/recommendations", params={"k": 10})
    assert len(answers) == 2 and workers.proc.pid not in answers
    for r in answers.values():
        assert r.status_code == 200
        got = [(it["movie_id"], it["score"]) for it in r.json()["items"]]
        assert got == expected  # same ids, scores bit for bit (JSON floats round-trip)
    for pid, r in workers.per_worker("/metrics").items():
        assert f'pid="{pid}"' in r.text and 'workers="2"' in r.text
        assert "every metric here counts this worker only" in r.text
    healths = workers.per_worker("/health")
    assert sorted(h.json()["worker"]["index"] for h in healths.values()) == [0, 1]


def test_admin_reload_reaches_every_worker(workers: Workers, wmodels: dict[str, Path]) -> None:
    v2 = Scorer.load(wmodels["m2"]).version
    v1 = Scorer.load(wmodels["m1"]).version
    try:
        r = httpx.post(
            workers.url + "/admin/reload",
            params={"wait": "true"},
            json={"model_dir": "m2"},
            headers=ADMIN,
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["version"] == v2, r.text
        assert _wait(
            lambda: all(
                h.json()["model"]["version"] == v2 and not h.json()["reload"]["in_progress"]
                for h in workers.per_worker("/health").values()
            )
        ), workers.log()[-2000:]
        assert "relaying to the other workers" in workers.log()
        for r in workers.per_worker("/users/7/recommendations").values():
            assert r.json()["model_version"] == v2
    finally:
        r = httpx.post(
            workers.url + "/admin/reload",
            params={"wait": "true"},
            json={"model_dir": "m1"},
            headers=ADMIN,
            timeout=30,
        )
        assert r.status_code == 200
        assert _wait(
            lambda: all(
                h.json()["model"]["version"] == v1 and not h.json()["reload"]["in_progress"]
                for h in workers.per_worker("/health").values()
            )
        )


def test_sighup_to_parent_reloads_every_worker(workers: Workers) -> None:
    before = {pid: _reloads(r.text) for pid, r in workers.per_worker("/metrics").items()}
    workers.proc.send_signal(signal.SIGHUP)

    def all_reloaded() -> bool:
        now = {pid: _reloads(r.text) for pid, r in workers.per_worker("/metrics").items()}
        return all(now[pid] == before[pid] + 1 for pid in before)

    assert _wait(all_reloaded), workers.log()[-2000:]
    assert "SIGHUP received: every worker reloads" in workers.log()


def test_sigterm_stops_every_worker(wmodels: dict[str, Path], tmp_path: Path) -> None:
    srv = Workers(wmodels["m1"], wmodels["root"], tmp_path / "w.log")
    pids = srv.pids()
    assert srv.stop() == 0
    assert _wait(lambda: all(_gone(p) for p in pids), 15)
    assert "stopping 2 workers" in srv.log()


def test_dead_worker_stops_the_service(wmodels: dict[str, Path], tmp_path: Path) -> None:
    """A worker killed from outside: the parent stops the other one and exits with 1."""
    srv = Workers(wmodels["m1"], wmodels["root"], tmp_path / "w.log")
    try:
        pids = srv.pids()
        os.kill(pids[0], signal.SIGKILL)
        assert srv.proc.wait(20) == 1
        assert _wait(lambda: all(_gone(p) for p in pids), 15)
        assert "exited unexpectedly (killed by signal 9)" in srv.log()
    finally:
        srv.stop()


def test_workers_option_validated(wmodels: dict[str, Path]) -> None:
    r = CliRunner().invoke(cli, ["serve", "--model", str(wmodels["m1"]), "--workers", "0"])
    assert r.exit_code == 2 and "--workers" in r.output


def test_workers_port_in_use_is_a_clear_error(wmodels: dict[str, Path]) -> None:
    """The SO_REUSEPORT group is only formed after a plain bind succeeded: a port someone
    else holds is refused, not silently shared."""
    from movierec.service.server import serve

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even a sharing holder
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MovierecError, match=f"127.0.0.1:{port}.*already in use"):
            serve(wmodels["m1"], "127.0.0.1", port, workers=2)
