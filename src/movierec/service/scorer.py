"""Online scoring of a loaded model, in plain numpy (no Spark, no numba, no pandas).

:meth:`Scorer.load` reads and validates a model folder (:mod:`movierec.service.model_reader`)
and the recommender model ``model.json`` names (see :meth:`Scorer.load`); ids, titles and
popularity are :class:`~movierec.service.catalog.Catalog`'s. A scorer answers:

* **known user top-k**: ``μ + b_u + b_i + x_u·y_i`` over every movie (float64 from the float32
  factors, summed in the engines' order), the user's training movies excluded, ties broken by
  ascending movie id as the engines do;
* **fold-in** of a new user's ratings with the *same* regularisation as training, and
  **explain** (the user's rated movies contributing most to ``x_u·y_m``): see
  :mod:`movierec.service.foldin` for the formulas;
* **similar movies**: cosine similarity of item factor vectors (a zero vector has cosine 0);
* **popular**: movies by number of training ratings, ties by ascending movie id.

Ids: the scorer works in *rows* (positions in the id-sorted factor arrays); the catalog maps
the data's original ids to rows and back.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import ModelError
from movierec.model_format import MODEL_KINDS, RECOMMENDERS
from movierec.service.catalog import Catalog, CatalogView
from movierec.service.foldin import Explanation, FoldIn
from movierec.service.itemitem import ItemItem, ItemItemSystems
from movierec.service.model_reader import ModelArrays, read_model
from movierec.service.numeric import kth_best, top_k

__all__ = ["Explanation", "FoldIn", "Scorer", "kth_best", "top_k"]

log = logging.getLogger(__name__)


class Scorer(CatalogView, ItemItemSystems):
    """One loaded model, immutable (safe to share between requests and threads)."""

    def __init__(self, arrays: ModelArrays, catalog: Catalog | None = None) -> None:
        """Derived arrays for fast requests; ``catalog``: the one of the model whose
        training data ``arrays`` shares (a recommender sub-model), else built here."""
        self.arrays = arrays
        self.path = arrays.path
        self.meta = arrays.meta
        self.version = arrays.version
        p = arrays.params
        self.kind, self.rank, self.reg_param = p.kind, p.rank, p.reg_param
        self.bias_reg, self.alpha, self.nonnegative = p.bias_reg, p.alpha, p.nonnegative
        self.biased, self.implicit, self.ials = p.biased, p.implicit, p.ials
        self.unobserved_weight, self.reg_exponent = p.unobserved_weight, p.reg_exponent
        self.catalog = catalog or Catalog(arrays.user_ids, arrays.item_ids, arrays.data)
        c = self.catalog
        self.n_users, self.n_items, self.n_ratings = c.n_users, c.n_items, c.n_ratings
        self.rating_min, self.rating_max = c.rating_min, c.rating_max
        self.user_factors = arrays.user_factors
        self.item_factors = arrays.item_factors
        self.global_mean = arrays.global_mean
        self.user_bias = arrays.user_bias
        self.item_bias = arrays.item_bias
        self.item_f64 = np.ascontiguousarray(self.item_factors, dtype=np.float64)
        norms = np.linalg.norm(self.item_f64, axis=1)
        self.item_unit = self.item_f64 / np.where(norms > 0, norms, 1.0)[:, None]
        self._item_norm_max = float(norms.max()) if len(norms) else 0.0
        # Transposed copies (rank × movies, contiguous) for the first pass: x @ Yᵀ then
        # streams each factor's row once; measured 2-3x faster than Y @ x for one vector on
        # 60k × 50 (OpenBLAS, one thread), and faster for batches up to 32 too.
        self._item_t32 = np.ascontiguousarray(self.item_factors.T)
        self._unit_t32 = np.ascontiguousarray(self.item_unit.astype(np.float32).T)
        self._bias32 = (self.global_mean + self.item_bias).astype(np.float32)
        self._bias_abs_max = float(np.abs(self.global_mean + self.item_bias).max(initial=0.0))
        # Implicit fold-in: YᵀY of every item factor (float64 from float32), as training has it.
        self._gram = self.item_f64.T @ self.item_f64 if self.implicit or self.ials else None
        self.item_item: ItemItem | None = None
        """``ease``: the item-item scorer (:mod:`movierec.service.itemitem`); the factors
        above are then its blended implicit-als partner's (none without a blend)."""
        self.rank = p.factor_rank
        self.cost = self.n_items * max(self.rank, 1)
        """Work of one top-k list (movies × rank), for the off-loop threshold."""
        if arrays.ease is not None:
            self.item_item = ItemItem(arrays.ease, self.item_f64)
            self.reg_param = p.ease_blend_reg  # the partner's fold-in regularisation
            per_user = self.n_ratings / max(self.n_users, 1)
            self.cost = self.n_items * (int(per_user) + self.rank + 1)
        self.loaded_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.load_seconds = 0.0
        self.recommender_name = "rating-model"
        self.recommender: Scorer | None = None
        """The model that answers top-k lists when it is not this one (``model/recommender``)."""
        self.recommender_why = ""

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: Path | str) -> Scorer:
        """Read and validate a model folder (and the recommender model it names).

        ``model.json`` may have a ``recommender`` section (written by ``movierec run``):
        ``{"name": "implicit-als", "path": "recommender", …}`` (or another model kind) —
        top-k lists come from the model folder at that relative path (loaded too, sharing
        this model's training data, ids and titles when they are the same data) — or
        ``{"name": "most-popular"}`` — top-k lists are the most popular unseen movies —
        or ``{"name": "rating-model"}`` (the default): this model ranks too.

        Raises:
            ModelError: missing, damaged, changed or incompatible files (the message says
                which).
        """
        started = time.perf_counter()
        self = cls(read_model(path))
        self._read_recommender(self.meta.get("recommender"))
        self.load_seconds = time.perf_counter() - started
        log.info(
            "model %s loaded from %s in %.2f s: %s rank %d, %d users, %d movies, %d ratings; "
            "top-k lists from %s",
            self.version,
            self.path,
            self.load_seconds,
            self.kind,
            self.rank,
            self.n_users,
            self.n_items,
            self.n_ratings,
            self.serving()["recommendations"],
        )
        return self

    def _read_recommender(self, section: Any) -> None:
        """The ``recommender`` section of ``model.json`` (see :meth:`load`)."""
        if section is None:
            return
        if not isinstance(section, dict) or section.get("name") not in RECOMMENDERS:
            raise ModelError(
                f"{self.path}: model.json names an unknown recommender {section!r:.200} "
                f"(expected one of {', '.join(RECOMMENDERS)})"
            )
        name = section["name"]
        self.recommender_name = name
        self.recommender_why = str(section.get("why", ""))
        if name not in MODEL_KINDS:
            return
        rel = section.get("path")
        if not isinstance(rel, str) or not rel:
            raise ModelError(f"{self.path}: the recommender section of model.json has no path")
        here = self.path.resolve()
        sub = (self.path / rel).resolve()
        if not sub.is_relative_to(here) or sub == here:
            raise ModelError(f"{self.path}: recommender path {rel!r} is outside the model folder")
        try:
            arrays = read_model(sub, base=self.arrays)
        except ModelError as exc:
            raise ModelError(f"{self.path}: recommender model: {exc}") from exc
        shared = self.catalog if arrays.data is self.arrays.data else None
        self.recommender = Scorer(arrays, shared)
        if self.recommender.kind != name:
            raise ModelError(
                f"{sub}: model kind {self.recommender.kind!r}, but model.json says {name!r}"
            )

    @property
    def ranker(self) -> Scorer | None:
        """The model whose top-k lists are served: this one, the recommender sub-model,
        or None when the most popular movies are (``recommender`` = ``most-popular``)."""
        if self.recommender_name == "most-popular":
            return None
        return self.recommender if self.recommender is not None else self

    @property
    def similar_model(self) -> Scorer:
        """Similar movies come from the ranking model's factors when it has factors."""
        ranker = self.ranker
        return ranker if ranker is not None else self

    def serving(self) -> dict[str, str]:
        """Which model answers what (for /health and the logs)."""
        ranker = self.ranker
        if ranker is None:
            lists = "most-popular (number of training ratings)"
        elif ranker is self:
            lists = f"{self.kind} (this model)"
        else:
            lists = f"{ranker.kind} ({ranker.path.name}/)"
        return {
            "recommendations": lists,
            "fold_in": lists,
            "similar": f"{self.similar_model.kind} factors",
            "explain": f"{self.kind} (this model)",
        }

    def info(self) -> dict[str, Any]:
        """What /health reports about this model."""
        return {
            "path": str(self.path),
            "version": self.version,
            "created_at": self.meta.get("created_at"),
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "engine": self.meta.get("engine"),
            "model": self.kind,
            "scores": self._score_kind(),
            "rank": self.rank,
            "reg_param": self.reg_param,
            **({"alpha": self.alpha} if self.implicit else {}),
            **(
                {"unobserved_weight": self.unobserved_weight, "reg_exponent": self.reg_exponent}
                if self.ials
                else {}
            ),
            **(self._ease_info() if self.item_item is not None else {}),
            "users": self.n_users,
            "movies": self.n_items,
            "ratings": self.n_ratings,
            "titles": any(self.catalog.titles),
            "ratings_loaded": True,
            "verified": self.meta.get("integrity") is not None,
        }

    def _score_kind(self) -> str:
        if self.item_item is not None:
            return "EASE X_u.B" + (" blended with implicit-als" if self.item_item.blended else "")
        return "preference x_u.y_i" if self.implicit or self.ials else "predicted rating"

    # ------------------------------------------------------------------ scoring

    def _exact(self, x: np.ndarray, user_bias: float, rows: np.ndarray, unit: bool) -> np.ndarray:
        """Exact float64 scores of ``rows``, with the engines' arithmetic.

        ``unit``: cosine similarity (unit item vectors, no biases); else
        ``((x·y_i + μ) + b_u) + b_i``. The dot product is the sequential sum
        Σ_f x_f·y_if (``np.cumsum`` along the factors), as the engines' top-N kernel
        computes it, so scores match theirs bit for bit and identical item vectors tie
        exactly (then the lower movie id wins).
        """
        y = (self.item_unit if unit else self.item_f64)[rows]
        s = np.cumsum(y * x, axis=1)[:, -1] if y.shape[1] else np.zeros(len(rows))
        if self.biased and not unit:
            s += self.global_mean
            s += user_bias
            s += self.item_bias[rows]
        return s

    def first_pass(self, xs: np.ndarray, unit: bool = False) -> np.ndarray:
        """float32 dot products of query vectors with every item: ``(b, n_items)`` for a
        ``(b, rank)`` batch, ``(n_items,)`` for one vector.

        The approximate first pass of :meth:`_best`. A batch reads the item matrix once for
        all its vectors (one matrix-matrix product), which is what makes concurrent
        requests on a large catalogue cheap (see
        :class:`movierec.service.batching.FirstPassBatcher`).
        """
        if self.item_item is not None:  # exact float64 EASE rows (similar: raw B rows)
            return self.item_item.scores(xs, raw=unit)
        yt = self._unit_t32 if unit else self._item_t32
        out: np.ndarray = np.asarray(xs, dtype=np.float32) @ yt
        return out

    def _best(
        self,
        x: np.ndarray,
        user_bias: float,
        k: int,
        banned: tuple[np.ndarray | None, ...],
        mask: np.ndarray | None,
        unit: bool = False,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by exact score (``banned`` rows and rows outside ``mask`` skipped).

        Every item is scored first in float32 (:meth:`first_pass`: one BLAS product on half
        the memory of float64, plus the biases), then every item within the float32
        rounding bound of the k-th best is rescored exactly (:meth:`_exact`) and the final
        top-k comes from those exact scores. The result (rows, scores, tie order) is
        therefore the exact float64 one, whatever rounding the first pass did. ``first``:
        that first pass, when already computed (it is modified in place).
        """
        x = np.asarray(x, dtype=np.float64)
        s = self.first_pass(x, unit) if first is None else first
        if self.item_item is not None:  # already exact: select directly
            self._ban(s, banned, mask)
            sel = top_k(s, k)
            return sel, s[sel]
        offset = 0.0
        if self.biased and not unit:
            s += self._bias32
            s += np.float32(user_bias)
            offset = self._bias_abs_max + abs(user_bias)
        self._ban(s, banned, mask)
        kth = kth_best(s, k)
        if kth == -np.inf:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # float32 rounding, any summation order: the dot product is off by at most
        # (rank + 1)·u·‖x‖·‖y‖ (x rounded too), each of the two bias additions by
        # u·|partial sum|; u = 2^-24. The margin is 8x that bound.
        xy = math.sqrt(float(x @ x)) * (1.0 if unit else self._item_norm_max)
        margin = 8.0 * 2.0**-24 * ((self.rank + 4) * xy + 3.0 * offset)
        cand = np.flatnonzero(s >= kth - margin)
        exact = self._exact(x, user_bias, cand, unit)
        sel = top_k(exact, k)
        return cand[sel], exact[sel]

    @staticmethod
    def _ban(s: np.ndarray, banned: tuple[np.ndarray | None, ...], mask: np.ndarray | None) -> None:
        for rows in banned:
            if rows is not None and len(rows):
                s[rows] = -np.inf
        if mask is not None:
            s[~mask] = -np.inf

    def recommend_user(
        self,
        urow: int,
        k: int,
        exclude: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k unseen rows for a known user, also skipping ``exclude`` rows and ``~mask``.

        ``first``: :meth:`first_pass` of :meth:`query_user` when already computed.
        """
        seen = self.seen_rows(urow)
        x, bu = self.query_user(urow), float(self.user_bias[urow])
        return self._best(x, bu, k, (seen, exclude), mask, first=first)

    def query_user(self, urow: int) -> np.ndarray:
        """The vector a known user's first pass is computed for (``ease``: the query vector
        of :mod:`movierec.service.itemitem` from the user's training ratings)."""
        if self.item_item is not None:
            rows, ratings = self.seen(urow)
            liked = rows[self.item_item.liked(ratings)]
            partner = self.user_factors[urow] if self.rank else None
            return self.item_item.query(liked, partner)
        return self.user_factors[urow]

    def query_movie(self, irow: int) -> np.ndarray:
        """The vector a similar-movies first pass is computed for (``unit=True``; ``ease``:
        the query vector of a user whose one interaction is this movie)."""
        if self.item_item is not None:
            return self.item_item.query(np.asarray([irow]), None)
        return self.item_unit[irow]

    def recommend_vector(
        self,
        fold: FoldIn,
        k: int,
        exclude: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows for a folded-in user, the rated movies and ``exclude`` skipped.

        ``first``: :meth:`first_pass` of ``fold.x`` when already computed.
        """
        banned = (fold.item_rows, exclude)
        return self._best(fold.x, fold.user_bias, k, banned, mask, first=first)

    def similar(
        self,
        irow: int,
        k: int,
        mask: np.ndarray | None = None,
        first: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k movies with the highest cosine similarity to ``irow`` (itself excluded).

        ``first``: :meth:`first_pass` (``unit=True``) of :meth:`query_movie` when computed.
        """
        itself = np.asarray([irow], dtype=np.int64)
        x = self.query_movie(irow)
        return self._best(x, 0.0, k, (itself,), mask, unit=True, first=first)

    def popular(
        self, k: int, exclude: np.ndarray | None = None, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Most-rated movies (score = number of training ratings), skipping ``exclude``."""
        return self.catalog.popular(k, exclude, mask)

    def predict(self, urow: int, irow: int) -> float:
        """The model's score of one known (user, movie) pair (the engines' arithmetic)."""
        if self.item_item is not None:
            return float(self.item_item.scores(self.query_user(urow))[irow])
        x = self.user_factors[urow].astype(np.float64)
        rows = np.asarray([irow], dtype=np.int64)
        return float(self._exact(x, float(self.user_bias[urow]), rows, unit=False)[0])
