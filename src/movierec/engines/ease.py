"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the math.

EASE learns one items×items weight matrix B from the binary interaction matrix X (users ×
items, X_ui = 1 when user u interacted with movie i):

    minimise ‖X − X·B‖²_F + λ‖B‖²_F   subject to diag(B) = 0

whose closed form is, with P = (XᵀX + λI)⁻¹,

    B = I − P·diag(1 ⊘ diag(P)),   i.e.  B_ij = −P_ij / P_jj (i ≠ j),  B_jj = 0.

A user's scores are s_u = X_u·B (the sum of the rows of B of the movies the user
interacted with); the top-N unseen movies by s_u are the recommendation.

Two exact ways to get P, the cheaper one is used (:func:`ease_weights`):

* **primal** — G = XᵀX (items×items, from the sparse X), then the Cholesky factor of
  G + λI and its inverse (LAPACK potrf + potri, in place): about n_items³ flops.
* **dual** (Woodbury) — with K = XXᵀ (users×users), (XᵀX + λI)⁻¹ = (I − Xᵀ(K + λI)⁻¹X)/λ:
  a users×users Cholesky, a solve with n_items right-hand sides and one sparse product,
  about n_users²·n_items + nnz·n_items flops — far cheaper when there are fewer users than
  movies (ml-latest-small: 610 users, 9.7k movies).

Both factorise in float64 (cond(G + λI) = 1 + ‖G‖/λ can reach 10⁴); B is returned as
float32, the precision a saved model keeps.

The items×items matrices are dense: :func:`check_size` refuses a catalogue whose matrices
would not fit in the configured limit, naming the memory it would need.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from movierec.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

BYTES_PER_ENTRY = 12
"""Peak bytes per items×items entry of a fit: the float64 matrix factorised in place plus
the float32 B made from it."""


def memory_needed(n_items: int) -> int:
    """Peak bytes of an EASE fit on ``n_items`` movies (the items×items matrices only)."""
    return BYTES_PER_ENTRY * int(n_items) ** 2


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def check_size(n_items: int, max_items: int) -> None:
    """Refuse an EASE fit on more than ``max_items`` movies.

    Raises:
        EngineError: ``n_items`` > ``max_items``; the message names the memory needed.
    """
    if n_items > max_items:
        raise EngineError(
            f"EASE on {n_items:,} movies needs about {_gib(memory_needed(n_items))} of memory "
            f"for its dense {n_items:,}×{n_items:,} item-item matrices, above the limit of "
            f"ease_max_items = {max_items:,} movies ({_gib(memory_needed(max_items))}); raise "
            "ease_max_items if the machine has the memory, or use implicit-als"
        )


def check_lambda(lam: float) -> float:
    """λ as a float.

    Raises:
        ConfigError: λ is not a positive finite number (λ = 0 leaves XᵀX singular).
    """
    value = float(lam)
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"EASE needs a positive regParam (λ), got {lam}")
    return value


def kept(values: np.ndarray, threshold: float | None) -> np.ndarray:
    """Which ratings are interactions: rating >= ``threshold`` (all when None)."""
    if threshold is None:
        return np.ones(len(values), dtype=bool)
    return np.asarray(values, dtype=np.float64) >= float(threshold)


def interaction_matrix(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    n_items: int,
    threshold: float | None,
) -> sp.csr_matrix:
    """The binary X (users×items, float64 CSR) from ratings held as CSR by user.

    X_ui = 1 where user u rated movie i at or above ``threshold`` (every rating when
    ``threshold`` is None), else 0. Rows of users without such a rating stay empty. Stored
    entries keep the input's order (so ``times[kept(values, threshold)]`` lines up).
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices)
    n_users = len(indptr) - 1
    keep = kept(values, threshold)
    rows = np.repeat(np.arange(n_users), np.diff(indptr))
    new_indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n_users), out=new_indptr[1:])
    cols = indices[keep].astype(np.int32)
    x = sp.csr_matrix(
        (np.ones(len(cols), dtype=np.float64), cols, new_indptr), shape=(n_users, n_items)
    )
    x.sort_indices()
    return x


def session_rows(x: sp.csr_matrix, times: np.ndarray, gap: float) -> sp.csr_matrix:
    """The rating sessions of ``x``'s users as rows (sessions × items, binary CSR).

    ``times`` holds the timestamp (seconds) of every stored entry of ``x`` in CSR order. A
    user's interactions sorted by time split into sessions wherever consecutive timestamps
    are more than ``gap`` seconds apart; each session becomes one row with its movies.
    """
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    order = np.lexsort((np.asarray(times, dtype=np.float64), rows))
    r = rows[order]
    t = np.asarray(times, dtype=np.float64)[order]
    new = np.ones(len(r), dtype=bool)
    new[1:] = (r[1:] != r[:-1]) | (np.diff(t) > gap)
    sid = np.cumsum(new) - 1
    n_sessions = int(sid[-1]) + 1 if len(sid) else 0
    s = sp.csr_matrix((np.ones(len(r)), (sid, x.indices[order])), shape=(n_sessions, x.shape[1]))
    s.sort_indices()
    return s


def with_sessions(
    x: sp.csr_matrix, times: np.ndarray | None, weight: float, gap: float
) -> sp.csr_matrix:
    """The rows EASE's Gram is built from: X, plus √weight × the session rows of X
    (:func:`session_rows`) when ``weight`` > 0 and timestamps are known.

    XᵀX + weight·SᵀS counts two movies of one rating session (1 + weight) times, two movies
    of one user's different sessions once.
    """
    if weight <= 0 or times is None or x.nnz == 0:
        return x
    s = session_rows(x, times, gap)
    return sp.vstack([x, s * np.sqrt(weight)], format="csr")


def gram(x: sp.csr_matrix) -> np.ndarray:
    """G = XᵀX as a dense float64 items×items matrix (co-occurrence counts for binary X)."""
    return np.asarray((x.T @ x).toarray(), dtype=np.float64)


def _symmetrise_upper(a: np.ndarray, block: int = 1024) -> None:
    """Copy the upper triangle of square ``a`` onto its lower triangle, in place."""
    n = a.shape[0]
    for start in range(0, n, block):
        stop = min(n, start + block)
        # rows start..stop, columns < start: from the (already complete) upper blocks
        a[start:stop, :start] = a[:start, start:stop].T
        tile = a[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        tile[lower] = tile.T[lower]


def _b_from_p(p: np.ndarray) -> np.ndarray:
    """B = I − P·diag(1 ⊘ diag(P)) as float32 (``p`` is overwritten)."""
    d = np.diag(p).copy()
    if not (d > 0).all():
        raise EngineError("EASE: the inverse Gram matrix has a non-positive diagonal")
    p *= -1.0 / d[None, :]
    np.fill_diagonal(p, 0.0)
    return np.ascontiguousarray(p, dtype=np.float32)


def weights_primal(g: np.ndarray, lam: float) -> np.ndarray:
    """B from the Gram matrix ``g`` (float64, overwritten): Cholesky of G + λI, then its
    inverse, both in place (LAPACK potrf/potri)."""
    lam = check_lambda(lam)
    g[np.diag_indices_from(g)] += lam
    potrf, potri = sla.get_lapack_funcs(("potrf", "potri"), (g,))
    c, info = potrf(g, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise EngineError(f"EASE: XᵀX + λI is not positive definite (LAPACK info {info})")
    p, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise EngineError(f"EASE: XᵀX + λI could not be inverted (LAPACK info {info})")
    _symmetrise_upper(p)
    return _b_from_p(p)


def weights_dual(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """B through the users×users system (Woodbury); exact, cheaper when users < items.

    A = (XXᵀ + λI)⁻¹X (users×items), P = (I − XᵀA)/λ, diag(P)_j = (1 − Σ_u X_uj A_uj)/λ.
    """
    lam = check_lambda(lam)
    k = np.asarray((x @ x.T).toarray(), dtype=np.float64)
    k[np.diag_indices_from(k)] += lam
    try:
        factor = sla.cho_factor(k, lower=False, overwrite_a=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise EngineError(f"EASE: XXᵀ + λI is not positive definite ({exc})") from exc
    a = sla.cho_solve(factor, x.toarray(), overwrite_b=True, check_finite=False)
    p = np.asarray(x.T @ a)  # XᵀA, items×items (sparse × dense)
    p *= -1.0 / lam
    p[np.diag_indices_from(p)] += 1.0 / lam
    return _b_from_p(p)


def dual_is_cheaper(n_users: int, n_items: int, nnz: int) -> bool:
    """Whether :func:`weights_dual` takes fewer flops than :func:`weights_primal`."""
    primal = float(n_items) ** 3 + 2.0 * nnz * n_items / max(n_users, 1)
    dual = float(n_users) ** 3 / 3 + 2.0 * n_users**2 * n_items + 2.0 * nnz * n_items
    return dual < primal


def ease_weights(x: sp.csr_matrix, lam: float, max_items: int) -> np.ndarray:
    """The EASE weights B (float32, items×items) of the binary interactions ``x``.

    Chooses the primal or dual computation by flop count (same B up to rounding).

    Raises:
        EngineError: more than ``max_items`` movies (see :func:`check_size`), or a
            factorisation failed.
        ConfigError: λ is not positive.
    """
    n_users, n_items = x.shape
    check_size(n_items, max_items)
    lam = check_lambda(lam)
    started = time.perf_counter()
    dual = dual_is_cheaper(n_users, n_items, x.nnz)
    b = weights_dual(x, lam) if dual else weights_primal(gram(x), lam)
    log.debug(
        "EASE (%s) on %d users x %d movies, %d interactions, λ=%g: %.2f s",
        "dual" if dual else "primal",
        n_users,
        n_items,
        x.nnz,
        lam,
        time.perf_counter() - started,
    )
    return b


def sparsify_rows(b: np.ndarray, k: int) -> sp.csr_matrix:
    """B with only the ``k`` largest-magnitude entries of each row kept (float32 CSR).

    Row i holds the weights movie i gives every other movie, so a user's scores are the sum
    of the kept rows of their movies. Ties in magnitude keep the lower column index.
    """
    n = b.shape[0]
    k = int(min(k, max(n - 1, 0)))
    if k <= 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    cols = np.empty((n, k), dtype=np.int32)
    for start in range(0, n, 1024):
        block = np.abs(b[start : start + 1024])
        # stable order on (-|b|, column) so ties keep the lower column
        order = np.argsort(-block, axis=1, kind="stable")[:, :k]
        cols[start : start + 1024] = np.sort(order, axis=1)
    rows = np.repeat(np.arange(n), k)
    vals = b[rows, cols.ravel()].astype(np.float32)
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    return sp.csr_matrix((vals, cols.ravel(), indptr), shape=(n, n))


def top_n_from_scores(
    scores: np.ndarray, seen: sp.csr_matrix | None, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``n`` columns of each row of ``scores`` (rows = users, columns = item rows).

    Columns marked in ``seen`` (same shape, CSR) are excluded. Ties in score go to the lower
    column. Returns (columns int64 [rows, n], scores float64 [rows, n], counts [rows]):
    row r's list is the first ``counts[r]`` entries (fewer than n when fewer columns are
    left). ``scores`` is overwritten.
    """
    rows, m = scores.shape
    if seen is not None and seen.nnz:
        r = np.repeat(np.arange(rows), np.diff(seen.indptr))
        scores[r, seen.indices] = -np.inf
    n_eff = min(n, m)
    cols = np.zeros((rows, n), dtype=np.int64)
    vals = np.full((rows, n), -np.inf)
    if n_eff == 0 or rows == 0:
        return cols, vals, np.zeros(rows, dtype=np.int64)
    if n_eff < m:
        kth = np.partition(scores, m - n_eff, axis=1)[:, m - n_eff]
        above = scores > kth[:, None]
        tie = scores == kth[:, None]
        room = n_eff - above.sum(axis=1)
        take = above | (tie & (np.cumsum(tie, axis=1) <= room[:, None]))
        _, c_idx = np.nonzero(take)  # exactly n_eff per row, columns ascending
        cand = c_idx.reshape(rows, n_eff)
    else:
        cand = np.broadcast_to(np.arange(m), (rows, m)).copy()
    cand_scores = np.take_along_axis(scores, cand, axis=1)
    order = np.argsort(-cand_scores, axis=1, kind="stable")  # stable: lower column first
    cols[:, :n_eff] = np.take_along_axis(cand, order, axis=1)
    vals[:, :n_eff] = np.take_along_axis(cand_scores, order, axis=1)
    counts = np.isfinite(vals).sum(axis=1)
    return cols, vals, counts
