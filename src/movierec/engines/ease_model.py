"""The local engine's EASE model: fit, scores, top-N, and the model-folder format.

A fitted model holds the weights B (:mod:`movierec.engines.ease`) and the training
interactions X (binary, CSR by user), so it scores its own users without the data handle:
s_u = X_u·B, summed in float64 from the float32 weights, in a numba kernel parallel over
users. B is dense (items×items float32) or, with ``ease_topk`` = k > 0, sparsified to the k
largest-magnitude weights of each row (CSR; what the Spark engine scores with).

Model folder (the ``engine/`` part of a movierec model folder), format ``movierec-ease`` 1:

    ease.json          {"format", "format_version", "model": "ease", "lambda", "threshold",
                        "users", "items", "interactions", "weights": "dense" | "topk",
                        "topk", "dtype": "float32", "blend": w, "partner": "partner" | null}
    item_ids.npy       int32, ascending: row/column j of B is movie item_ids[j]
    user_ids.npy       int32, ascending: the users of the training interactions
    weights.npy        dense B, float32, C order (``np.load(mmap_mode="r")`` reads it lazily)
      — or, for ``"topk"`` —
    weights_indptr.npy int64 (items + 1), weights_indices.npy int32, weights_values.npy
                       float32: B's kept entries as CSR by source row
    interactions.parquet   (user_id, movie_id) pairs of X: a file, or a folder of part
                       files when the Spark engine wrote it
    partner/           with ``blend`` w > 0: the implicit-als partner, as its engine saves an
                       ALS model (``als/`` ALSModel layout; the local engine adds local.npz)

A user's EASE scores need only B and the user's movies at or above ``threshold`` (every
movie when it is null): a known user's from ``interactions``, a new user's from the movies
they post. A blend also needs the partner's item factors and the user's factor (a known
user's from the partner, a new user's by the implicit fold-in the service already does), then
(1 − w)·z(EASE) + w·z(partner) (:mod:`movierec.engines.ease_blend`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.engines.base import ALSParams, EngineData, Factors, TrainedModel
from movierec.engines.ease import (
    check_lambda,
    check_size,
    ease_weights,
    interaction_matrix,
    kept,
    sparsify_rows,
    top_n_from_scores,
    with_sessions,
)
from movierec.engines.ease_blend import aligned, blend
from movierec.engines.ease_scores import scores_dense, scores_sparse
from movierec.errors import EngineError, ModelError
from movierec.ids import positions
from movierec.model_format import EASE_DENSE, EASE_FORMAT, EASE_FORMAT_VERSION, EASE_JSON, EASE_TOPK
from movierec.schema import ITEM, RANK, SCORE, USER

log = logging.getLogger(__name__)

INTERACTIONS = "interactions.parquet"
PARTNER = "partner"
"""Sub-folder of the blended implicit-als partner (that engine's own model folder)."""
BLOCK_USERS = 512
"""Users scored per block of :meth:`EaseModel.recommend` (a block × items float64 matrix)."""


Weights: TypeAlias = "np.ndarray | sp.csr_matrix"


class EaseModel(TrainedModel):
    """EASE weights and training interactions; scores are s_u = X_u·B.

    ``predict`` gives these scores (for ranking; not ratings), NaN for a user or movie the
    model does not know. There are no latent factors: :meth:`factors` raises.
    """

    def __init__(
        self,
        params: ALSParams,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        x: sp.csr_matrix,
        weights: Weights,
        partner: TrainedModel | None = None,
    ) -> None:
        self.params = params
        self.user_ids = np.ascontiguousarray(user_ids, dtype=np.int32)
        self.item_ids = np.ascontiguousarray(item_ids, dtype=np.int32)
        self.x = x
        self.weights = weights
        self.partner = partner
        """The implicit-als model blended in (``params.ease_blend`` > 0), else None."""
        self._partner_f: tuple[np.ndarray, np.ndarray] | None = None
        if partner is not None:
            self._partner_f = aligned(partner.factors(), self.user_ids, self.item_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def scores(self, urows: np.ndarray) -> np.ndarray:
        """Score rows (float64, len(urows) × items) of model user rows ``urows``: X_u·B, or
        its blend with the implicit-als partner (:mod:`movierec.engines.ease_blend`)."""
        s = self._ease_scores(urows)
        if self._partner_f is None:
            return s
        uf, itf = self._partner_f
        rows = np.asarray(urows, dtype=np.int64)
        inputs = self.x[rows].toarray() > 0
        return blend(s, uf[rows] @ itf.T, self.params.ease_blend, inputs)

    def _ease_scores(self, urows: np.ndarray) -> np.ndarray:
        """s_u = X_u·B (float64, len(urows) × items) for model user rows ``urows``."""
        urows = np.ascontiguousarray(urows, dtype=np.int64)
        indptr = self.x.indptr.astype(np.int64, copy=False)
        indices = self.x.indices.astype(np.int32, copy=False)
        if isinstance(self.weights, sp.csr_matrix):
            w = self.weights
            return scores_sparse(
                indptr,
                indices,
                urows,
                w.indptr.astype(np.int64, copy=False),
                w.indices.astype(np.int32, copy=False),
                w.data.astype(np.float32, copy=False),
                self.n_items,
            )
        return scores_dense(indptr, indices, urows, self.weights)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """EASE scores (float64) for the (USER, ITEM) rows of ``pairs``, in row order; NaN
        where the user or the movie is not in the training data."""
        out = np.full(len(pairs), np.nan, dtype=np.float64)
        if len(pairs) == 0:
            return out
        urows = positions(self.user_ids, pairs[USER].to_numpy())
        irows = positions(self.item_ids, pairs[ITEM].to_numpy())
        ok = np.flatnonzero((urows >= 0) & (irows >= 0))
        wanted, inverse = np.unique(urows[ok], return_inverse=True)
        for start in range(0, len(wanted), BLOCK_USERS):
            block = wanted[start : start + BLOCK_USERS]
            s = self.scores(block)
            sel = (inverse >= start) & (inverse < start + len(block))
            out[ok[sel]] = s[inverse[sel] - start, irows[ok[sel]]]
        return out

    def _seen(self, urows: np.ndarray, exclude: EngineData | None) -> sp.csr_matrix | None:
        """The movies each of ``urows`` rated in ``exclude``, as CSR over model item rows."""
        if exclude is None:
            return None
        ex = exclude.ratings
        ex_u = positions(self.user_ids, ex[USER].to_numpy())
        ex_i = positions(self.item_ids, ex[ITEM].to_numpy())
        row_of = np.full(len(self.user_ids), -1, dtype=np.int64)
        row_of[urows] = np.arange(len(urows))
        keep = (ex_u >= 0) & (ex_i >= 0)
        r = row_of[ex_u[keep]]
        c = ex_i[keep]
        mine = r >= 0
        return sp.csr_matrix(
            (np.ones(int(mine.sum()), dtype=np.int8), (r[mine], c[mine])),
            shape=(len(urows), self.n_items),
        )

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` movies per user by EASE score: USER, ITEM, SCORE, RANK (1-based).

        ``users`` None = every user of the training data; unknown ids get no rows. Movies
        the user rated in ``exclude`` are never recommended; ties go to the lower movie id.

        Raises:
            EngineError: ``n`` < 1.
        """
        if n < 1:
            raise EngineError(f"n must be at least 1, got {n}")
        if users is None:
            urows = np.arange(len(self.user_ids), dtype=np.int64)
        else:
            pos = positions(self.user_ids, np.unique(np.asarray(users).astype(np.int64)))
            urows = pos[pos >= 0]
        seen = self._seen(urows, exclude)
        started = time.perf_counter()
        frames = []
        for start in range(0, len(urows), BLOCK_USERS):
            block = urows[start : start + BLOCK_USERS]
            s = self.scores(block)
            block_seen = None if seen is None else seen[start : start + len(block)]
            cols, vals, counts = top_n_from_scores(s, block_seen, n)
            valid = np.arange(n)[None, :] < counts[:, None]
            frames.append(
                pd.DataFrame(
                    {
                        USER: np.repeat(self.user_ids[block], counts).astype(np.int32),
                        ITEM: self.item_ids[cols[valid]].astype(np.int32),
                        SCORE: vals[valid].astype(np.float64),
                        RANK: np.broadcast_to(np.arange(1, n + 1, dtype=np.int32), (len(block), n))[
                            valid
                        ],
                    }
                )
            )
        seconds = time.perf_counter() - started
        log.debug("EASE top-%d for %d users in %.3f s", n, len(urows), seconds)
        if not frames:
            return pd.DataFrame(
                {
                    USER: np.zeros(0, np.int32),
                    ITEM: np.zeros(0, np.int32),
                    SCORE: np.zeros(0, np.float64),
                    RANK: np.zeros(0, np.int32),
                }
            )
        return pd.concat(frames, ignore_index=True)

    def release(self) -> None:
        if self.partner is not None:
            self.partner.release()

    def factors(self) -> Factors:
        """EASE is an item-item model: it has no user or movie factors.

        Raises:
            EngineError: always.
        """
        raise EngineError(
            "ease is an item-item model without latent factors; use its scores "
            "(predict/recommend) or a factor model (als, implicit-als) for factors"
        )

    def save(self, path: Path) -> None:
        """Write the ``movierec-ease`` folder ``path`` (must not exist; see the module doc).

        Raises:
            ModelError: ``path`` exists or cannot be written.
        """
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            raise ModelError(f"{path} already exists; a model folder must be new") from exc
        except OSError as exc:
            raise ModelError(f"cannot create {path}: {exc.strerror or exc}") from exc
        try:
            write_weights(path, self.params, self.item_ids, self.weights, len(self.user_ids))
            np.save(path / "user_ids.npy", self.user_ids)
            rows = np.repeat(self.user_ids, np.diff(self.x.indptr))
            pd.DataFrame(
                {USER: rows.astype(np.int32), ITEM: self.item_ids[self.x.indices].astype(np.int32)}
            ).to_parquet(path / INTERACTIONS, index=False)
            if self.partner is not None:
                self.partner.save(path / PARTNER)
        except OSError as exc:
            raise ModelError(f"cannot write model to {path}: {exc.strerror or exc}") from exc


def write_weights(
    path: Path, params: ALSParams, item_ids: np.ndarray, weights: Weights, n_users: int
) -> None:
    """``ease.json``, ``item_ids.npy`` and the weights files of a model folder."""
    sparse = isinstance(weights, sp.csr_matrix)
    topk = (
        int(np.diff(weights.indptr).max(initial=0)) if isinstance(weights, sp.csr_matrix) else None
    )
    meta = {
        "format": EASE_FORMAT,
        "format_version": EASE_FORMAT_VERSION,
        "model": "ease",
        "lambda": float(params.reg_param),
        "threshold": params.ease_threshold,
        "users": int(n_users),
        "items": len(item_ids),
        "interactions": INTERACTIONS,
        "weights": "topk" if sparse else "dense",
        "topk": topk,
        "dtype": "float32",
        "blend": float(params.ease_blend),
        "partner": PARTNER if params.ease_blend > 0 else None,
    }
    np.save(path / "item_ids.npy", np.asarray(item_ids, dtype=np.int32))
    if isinstance(weights, sp.csr_matrix):
        np.save(path / EASE_TOPK[0], weights.indptr.astype(np.int64))
        np.save(path / EASE_TOPK[1], weights.indices.astype(np.int32))
        np.save(path / EASE_TOPK[2], weights.data.astype(np.float32))
    else:
        np.save(path / EASE_DENSE, np.ascontiguousarray(weights, dtype=np.float32))
    (path / EASE_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def read_weights(path: Path, params: ALSParams) -> tuple[dict[str, Any], np.ndarray, Weights]:
    """(ease.json, item ids, weights) of a ``movierec-ease`` folder; dense weights are
    memory-mapped.

    Raises:
        ModelError: missing or damaged files, or a folder that is not an EASE model.
    """
    path = Path(path)
    meta_file = path / EASE_JSON
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != EASE_FORMAT:
            raise ModelError(f"{meta_file}: not a movierec EASE model")
        if meta.get("format_version") != EASE_FORMAT_VERSION:
            raise ModelError(
                f"{meta_file}: EASE model format {meta.get('format_version')} is not supported"
            )
        if params.model != "ease":
            raise ModelError(f"{path}: model is 'ease', metadata says {params.model!r}")
        item_ids = np.load(path / "item_ids.npy", allow_pickle=False)
        n = len(item_ids)
        weights: Weights
        if meta["weights"] == "topk":
            weights = sp.csr_matrix(
                (
                    np.load(path / EASE_TOPK[2], allow_pickle=False),
                    np.load(path / EASE_TOPK[1], allow_pickle=False),
                    np.load(path / EASE_TOPK[0], allow_pickle=False),
                ),
                shape=(n, n),
            )
        else:
            weights = np.load(path / EASE_DENSE, mmap_mode="r", allow_pickle=False)
            if weights.shape != (n, n):
                raise ModelError(f"{path}: weights are {weights.shape}, expected {(n, n)}")
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: not a readable EASE model ({exc})") from exc
    return meta, item_ids, weights


def fit_local(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    params: ALSParams,
    times: np.ndarray | None = None,
    partner: TrainedModel | None = None,
) -> EaseModel:
    """Fit EASE on ratings held as CSR by user (rows ``user_ids``, columns ``item_ids``;
    movies ascending within a user). ``times``: each rating's timestamp in the same order,
    for the session rows of ``ease_session_weight`` (None: no sessions).

    Raises:
        EngineError: too many movies (``params.ease_max_items``) or no interaction.
        ConfigError: λ (``params.reg_param``) is not positive.
    """
    check_size(len(item_ids), params.ease_max_items)
    check_lambda(params.reg_param)
    x = interaction_matrix(indptr, indices, values, len(item_ids), params.ease_threshold)
    if x.nnz == 0:
        raise EngineError(
            f"EASE has no interaction to learn from: no rating is >= {params.ease_threshold}"
        )
    t = None if times is None else np.asarray(times)[kept(values, params.ease_threshold)]
    rows = with_sessions(x, t, params.ease_session_weight, params.ease_session_gap)
    b = ease_weights(rows, params.reg_param, params.ease_max_items)
    weights: Weights = sparsify_rows(b, params.ease_topk) if params.ease_topk else b
    return EaseModel(params, user_ids, item_ids, x, weights, partner)


def load_local(path: Path, params: ALSParams, partner: TrainedModel | None = None) -> EaseModel:
    """Read a ``movierec-ease`` folder (written by either engine).

    Raises:
        ModelError: missing or damaged files.
    """
    _, item_ids, weights = read_weights(path, params)
    try:
        user_ids = np.load(Path(path) / "user_ids.npy", allow_pickle=False)
        pairs = pd.read_parquet(Path(path) / INTERACTIONS)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable EASE model ({exc})") from exc
    rows = positions(user_ids, pairs[USER].to_numpy())
    cols = positions(item_ids, pairs[ITEM].to_numpy())
    if (rows < 0).any() or (cols < 0).any():
        raise ModelError(f"{path}: interactions name users or movies the model does not have")
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(user_ids), len(item_ids)))
    x.sort_indices()
    return EaseModel(params, user_ids, item_ids, x, weights, partner)
