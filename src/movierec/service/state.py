"""The service's state: the model being served, where models may come from, hot reload.

A reload reads and validates the whole model folder in a worker thread
(:meth:`movierec.service.scorer.Scorer.load`) while the current model keeps answering;
only a model that passed every check is swapped in, by one reference assignment (a request
sees the old model or the new one, whole). A refused folder costs one ``ERROR`` log line.
In a worker of ``movierec serve --workers N`` reloads are relayed to the other workers
(:mod:`movierec.service.workers` has the line protocol).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from movierec.errors import ModelError
from movierec.service.batching import FirstPassBatcher
from movierec.service.metrics import ServiceMetrics
from movierec.service.scorer import Scorer
from movierec.service.workers import RelayReader, notify_reload

log = logging.getLogger("movierec.service")

HEAVY = 1_000_000
"""Catalogue size (movies × rank) from which requests are scored in worker threads."""
T = TypeVar("T")


class ServiceState:
    """The model being served, where models may come from, and the reload machinery."""

    def __init__(
        self,
        scorer: Scorer,
        model_dir: Path,
        model_root: Path,
        api_key: str,
        *,
        offload_from: int = HEAVY,
        score_threads: bool = True,
    ) -> None:
        """``offload_from``: catalogue size (movies × rank) from which requests are scored
        in worker threads, their first passes batched; ``score_threads`` False computes
        those batches on the event loop (see :class:`FirstPassBatcher`)."""
        self.scorer = scorer
        self.model_dir = model_dir
        self.model_root = model_root
        self.api_key = api_key
        self.started = time.monotonic()
        self.metrics = ServiceMetrics(self.live)
        self.reloading = False
        self.last_reload: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[dict[str, Any]]] = set()  # referenced until done
        self.offload_from = offload_from
        # Large catalogues: the float32 first pass of concurrent requests is batched into
        # one matrix product (the item matrix is read once per batch, not once per
        # request), and the rest of each request runs in worker threads (numpy releases
        # the GIL), so both cores work while the event loop keeps parsing and answering.
        # Small catalogues are scored inline: hand-offs would cost more than they save.
        self.executor = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="score")
        self.batcher = FirstPassBatcher(self.executor, metrics=self.metrics, threads=score_threads)
        self.worker: dict[str, int] | None = None
        """``{"index", "workers", "pid"}`` in a worker of ``movierec serve --workers N``."""
        self.tag = ""
        """Log prefix naming the worker (empty in a single process)."""
        self._control_fd: int | None = None
        self._notify_fd: int | None = None
        self._relayed = RelayReader()
        self._pending: Path | None = None

    def live(self) -> dict[str, Any]:
        """What the metrics read at scrape time."""
        return {
            "scorer": self.scorer,
            "started": self.started,
            "batcher": self.batcher,
            "worker": self.worker,
        }

    def heavy(self, scorer: Scorer) -> bool:
        """Whether requests on ``scorer`` are scored off the event loop (module docstring)."""
        return scorer.cost >= self.offload_from

    async def compute(self, scorer: Scorer, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``: inline for small catalogues, in a worker thread for large ones."""
        if not self.heavy(scorer):
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def attach_worker(self, index: int, workers: int, control_fd: int, notify_fd: int) -> None:
        """Make this state one worker of several (called in the forked worker process):
        reloads it starts are written to ``notify_fd`` for the parent to relay, and reloads
        relayed from the other workers arrive on ``control_fd`` (see
        :mod:`movierec.service.workers`)."""
        self.worker = {"index": index, "workers": workers, "pid": os.getpid()}
        self.tag = f"worker {index} (pid {os.getpid()}): "
        self._control_fd = control_fd
        self._notify_fd = notify_fd

    def listen_control(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Start reading relayed reloads on the event loop (workers only)."""
        if self._control_fd is None:
            return False
        os.set_blocking(self._control_fd, False)
        loop.add_reader(self._control_fd, self._on_control)
        return True

    def stop_control(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._control_fd is not None:
            loop.remove_reader(self._control_fd)

    def _on_control(self) -> None:
        assert self._control_fd is not None
        try:
            chunk = os.read(self._control_fd, 65536)
        except BlockingIOError:
            return
        if not chunk:  # the parent is gone; it stops this worker too
            asyncio.get_running_loop().remove_reader(self._control_fd)
            return
        for path in self._relayed.feed(chunk):
            log.info("%sreload relayed from another worker: %s", self.tag, path)
            self.follow(path)

    def follow(self, path: Path) -> None:
        """Load ``path`` now, or right after the reload that is running (the newest
        request wins)."""
        if self.trigger(path) is None:
            self._pending = path

    def resolve(self, requested: str | None) -> Path:
        """The model folder a reload should read: the current one, or ``requested`` under
        the model root (relative paths are taken from the root).

        Raises:
            PermissionError: the path resolves outside the model root.
            ValueError: not a usable path (a NUL character, too long, …).
        """
        if requested is None or not requested.strip():
            return self.model_dir
        if "\x00" in requested:
            raise ValueError("model path contains a NUL character")
        path = Path(requested)
        if not path.is_absolute():
            path = self.model_root / path
        try:
            path = path.resolve()
        except (OSError, RuntimeError) as exc:  # too long, symlink loop, …
            raise ValueError(f"model path {requested[:200]!r} cannot be resolved ({exc})") from None
        if not path.is_relative_to(self.model_root):
            raise PermissionError(
                f"model path {requested!r} is outside the model root {self.model_root}"
            )
        return path

    def begin_reload(self) -> bool:
        with self._lock:
            if self.reloading:
                return False
            self.reloading = True
            return True

    def reload_blocking(self, path: Path) -> dict[str, Any]:
        """Load ``path``; swap it in on success (callers hold the reload flag)."""
        old = self.scorer
        started = time.perf_counter()
        try:
            new = Scorer.load(path)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            log.error(
                "%sreload refused: %s; still serving model %s from %s",
                self.tag,
                reason,
                old.version,
                old.path,
            )
            self.metrics.count_reload("refused")
            result = {"status": "refused", "path": str(path), "error": reason}
        else:
            self.scorer = new  # one reference assignment: requests see the old or the new
            self.model_dir = path
            log.info(
                "%sreloaded: now serving model %s from %s (was %s) after %.2f s",
                self.tag,
                new.version,
                path,
                old.version,
                time.perf_counter() - started,
            )
            self.metrics.count_reload("loaded")
            result = {"status": "loaded", "path": str(path), "version": new.version}
        result["at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with self._lock:
            self.last_reload = result
            self.reloading = False
        return result

    async def reload(self, path: Path) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, self.reload_blocking, path)
        if self._pending is not None:  # relayed while this one ran
            pending, self._pending = self._pending, None
            self.follow(pending)
        return result

    def trigger(self, path: Path, relay: bool = False) -> asyncio.Task[dict[str, Any]] | None:
        """Start a background reload of ``path``; None when one is already running.

        ``relay``: in a worker of several, also have the other workers load ``path``.
        """
        if not self.begin_reload():
            return None
        log.info("%sreloading model from %s in the background", self.tag, path)
        if relay and self._notify_fd is not None and self.worker is not None:
            try:
                notify_reload(self._notify_fd, self.worker["pid"], path)
            except OSError as exc:
                log.error("cannot relay the reload to the other workers: %s", exc)
        task = asyncio.get_running_loop().create_task(self.reload(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
