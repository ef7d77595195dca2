"""Coalescing the float32 first scoring pass of concurrent requests (large catalogues)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from movierec.service.scorer import Scorer


class InFlight(Protocol):
    """Something that counts the HTTP requests being served now (``active``)."""

    active: int


Finish = Callable[[np.ndarray], Any]


class FirstPassBatcher:
    """Coalesces the float32 first scoring pass of concurrent requests into one product.

    A request awaits :meth:`score` with its query vector and a ``finish`` function (the
    rest of its scoring, given its first-pass row); whatever requests are waiting when the
    worker thread becomes free go together into one ``(b, rank) @ (rank, n_items)``
    product, so the item matrix (12 MB at 60k movies × rank 50) is streamed from memory
    once per batch instead of once per request, and every request's ``finish`` runs in the
    same worker job (one thread hand-off per request). An idle service computes batches of
    one (no added wait).

    ``threads=False`` computes each batch on the event loop instead (no hand-offs): the
    batch is then whatever requests reached the scorer during one turn of the loop. That
    suits several worker processes (``movierec serve --workers N``), where the processes,
    not threads, keep the cores busy.
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        max_batch: int = 64,
        metrics: InFlight | None = None,
        threads: bool = True,
    ) -> None:
        self._executor = executor
        self._threads = threads
        self._metrics = metrics  # its ``active`` count: HTTP requests being served now
        self._max = max_batch
        self._pending: list[tuple[Scorer, np.ndarray, bool, Finish, asyncio.Future[Any]]] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.batches = 0
        self.vectors = 0

    async def first_pass(self, scorer: Scorer, x: np.ndarray, unit: bool) -> np.ndarray:
        """The first-pass scores of ``x`` (one row of a batched product)."""
        out: np.ndarray = await self.score(scorer, x, unit, _identity)
        return out

    async def score(self, scorer: Scorer, x: np.ndarray, unit: bool, finish: Finish) -> Any:
        """``finish(first pass of x)``, computed in a worker thread with the batch — or
        right here when no other request is being scored (a lone request gains nothing
        from a batch, and a thread hand-off costs more than its ~0.3 ms of scoring)."""
        if self._in_flight == 0 and (self._metrics is None or self._metrics.active <= 1):
            self.batches += 1
            self.vectors += 1
            return finish(scorer.first_pass(x, unit))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((scorer, x, unit, finish, future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        self._in_flight += 1
        try:
            return await future
        finally:
            self._in_flight -= 1

    @staticmethod
    def _job(
        scorer: Scorer, xs: np.ndarray, unit: bool, finishes: list[Finish]
    ) -> list[tuple[bool, Any]]:
        first = scorer.first_pass(xs, unit)
        results: list[tuple[bool, Any]] = []
        for i, finish in enumerate(finishes):
            try:
                results.append((True, finish(first[i])))
            except Exception as exc:  # that request's error, not the batch's
                results.append((False, exc))
        return results

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self._max]
                del self._pending[: self._max]
                groups: dict[tuple[int, bool], list[Any]] = {}
                for item in batch:  # a reload can put two models in one batch
                    groups.setdefault((id(item[0]), item[2]), []).append(item)
                for items in groups.values():
                    scorer, unit = items[0][0], items[0][2]
                    xs = np.stack([item[1] for item in items])
                    finishes = [item[3] for item in items]
                    try:
                        if self._threads:
                            out = await loop.run_in_executor(
                                self._executor, self._job, scorer, xs, unit, finishes
                            )
                        else:
                            out = self._job(scorer, xs, unit, finishes)
                    except Exception as exc:
                        for item in items:
                            if not item[4].done():
                                item[4].set_exception(exc)
                        continue
                    self.batches += 1
                    self.vectors += len(items)
                    for (ok, value), item in zip(out, items):
                        if item[4].done():  # the request may have been cancelled
                            continue
                        if ok:
                            item[4].set_result(value)
                        else:
                            item[4].set_exception(value)
        finally:
            self._draining = False


def _identity(first: np.ndarray) -> np.ndarray:
    return first
