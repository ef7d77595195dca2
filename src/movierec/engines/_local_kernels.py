"""numba kernels of the local ALS engine (see :mod:`movierec.engines.local_als`).

**Every ``@njit`` and ``@intrinsic`` of the engine lives in this one file, on purpose.**
numba's on-disk cache (``cache=True``) keys a compiled kernel on the source file that defines
it; it does not notice edits to callees or globals defined in *other* files (numba issue
#1833, still open), so a kernel split across modules can silently keep running stale
machine code after an edit. Do not move compiled code out of this file without also
versioning ``NUMBA_CACHE_DIR``. Pure-Python planning (which path a row takes, the FLOP
count, the task cuts) lives in :mod:`._local_plan`; its numbers reach the kernels only as
arguments. ``docs/kernels.md`` is the contributor's guide: what each path does, the data
layouts, how to test a change, clear the cache and read the generated assembly.

Compilation: ``cache=True`` (next to this file, or under ``NUMBA_CACHE_DIR`` when the package
folder is read-only) and ``error_model="numpy"`` (a division by zero gives inf/NaN instead of
raising, and costs no checks). Kernels run with ``fastmath=False`` except the explicit solve
and the conjugate-gradient solves, which use only the ``reassoc`` and ``contract`` flags
(sums may be reordered into SIMD lanes, a·b + c may become one fused multiply-add), never the
flags that assume no NaN/inf or change division/sqrt. Results are deterministic for a given
machine and independent of the thread count and of how rows are split into tasks (every row
is computed alone, in a fixed order). Factors are float32 (as Spark stores them); every
product and sum is float64.

The hot arithmetic of the explicit solve — the Gram matrices' register tiles, the Cholesky
strips, the factor-major gather — is written as small LLVM IR intrinsics (llvmlite, through
numba's ``@intrinsic``) on vectors of 4 doubles: numba's auto-vectoriser leaves these loops
scalar. LLVM lowers the 4-double vectors to whatever the CPU has (AVX2 / AVX-512: one
register; SSE2: two), and ``llvm.fmuladd`` fuses only where FMA exists. The intrinsics load
whole vectors from raw pointers without bounds checks, so each one's typing function
refuses (→ numba ``TypingError``) any argument that is not exactly the dtype, number of
dimensions and C layout it was written for; bounds are the callers' duty. The public
wrappers at the end of the file check dtype, layout and shape of everything they pass in
and raise :class:`KernelArgumentError`; they also serialise launches (:func:`_locked`).

Threading: numba's default layer unless the user sets ``NUMBA_THREADING_LAYER``;
``workqueue`` is the documented choice for oversubscribed machines (measurements in
``benchmarks/README.md``, "Kernel constants").
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from movierec.engines import _local_plan as P
from movierec.errors import EngineError


class KernelArgumentError(EngineError):
    """A kernel was called with an array of the wrong dtype, layout or shape."""


_LAUNCH_LOCK = threading.Lock()
"""Serialises parallel kernel launches: the workqueue layer aborts the whole process when two
Python threads (e.g. tuning's thread pool) run parallel kernels at the same time."""

_ROWS_PER_CHUNK = 64
"""Rows (users or items) one parallel task solves in the implicit kernels; amortises the
per-task scratch buffers."""

_FAST = {"reassoc", "contract"}
"""numba fastmath flags of the hot loops (see the module docstring)."""


@njit(cache=True, fastmath=False, error_model="numpy")
def _csr_order(
    row_keys: np.ndarray, col_keys: np.ndarray, n_rows: int, n_cols: int, perm: np.ndarray
) -> np.ndarray:
    """Order of the entries by (row key, column key), stably, as an LSD counting sort.

    ``row_keys``/``col_keys`` are int32 in [0, n_rows) / [0, n_cols). Fills ``perm``
    (preallocated, int32 when there are fewer than 2^31 entries, else int64) so that entry
    ``perm[q]`` is the q-th in (row, column, input position) order, and returns the row
    pointer (int64, n_rows + 1). Transient memory: one array like ``perm`` plus the counts.
    """
    n = row_keys.shape[0]
    by_col = np.empty_like(perm)
    ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for p in range(n):
        ptr[col_keys[p] + 1] += 1
    for c in range(n_cols):
        ptr[c + 1] += ptr[c]
    for p in range(n):
        c = col_keys[p]
        by_col[ptr[c]] = p
        ptr[c] += 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for p in range(n):
        indptr[row_keys[p] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    nxt = indptr[:-1].copy()
    for q in range(n):
        p = by_col[q]
        r = row_keys[p]
        perm[nxt[r]] = p
        nxt[r] += 1
    return indptr


@njit(cache=True, fastmath=False, error_model="numpy")
def _gather_f32(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """``values[perm]`` rounded to float32, without a float64 intermediate copy."""
    out = np.empty(perm.shape[0], dtype=np.float32)
    for q in range(perm.shape[0]):
        out[q] = np.float32(values[perm[q]])
    return out


@njit(cache=True, fastmath=False, error_model="numpy")
def _transpose_csr(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_cols: int, from_csr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSC of a CSR (rows ascending within each column), in one counting pass.

    Returns (indptr int64 of n_cols + 1, row indices int32, values float32) and fills
    ``from_csr`` (preallocated) with the CSR position of every CSC entry.
    """
    n_rows = indptr.shape[0] - 1
    n = indices.shape[0]
    ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for p in range(n):
        ptr[indices[p] + 1] += 1
    for c in range(n_cols):
        ptr[c + 1] += ptr[c]
    nxt = ptr[:-1].copy()
    rows = np.empty(n, dtype=np.int32)
    vals = np.empty(n, dtype=np.float32)
    for r in range(n_rows):
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            q = nxt[c]
            rows[q] = r
            vals[q] = values[p]
            from_csr[q] = p
            nxt[c] = q + 1
    return ptr, rows, vals


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _cholesky_solve(a: np.ndarray, b: np.ndarray, m: int, x: np.ndarray) -> bool:
    """Solve ``a[:m, :m] x = b[:m]`` for symmetric positive definite ``a`` (lower triangle read).

    ``a`` is overwritten by its Cholesky factor L (lower, with 1/L_jj on the diagonal).
    Returns False when ``a`` is not positive definite (x is then undefined). The dot
    products run in SIMD lanes (``reassoc``).
    """
    for j in range(m):
        s = a[j, j]
        for p in range(j):
            s -= a[j, p] * a[j, p]
        if not s > 0.0:
            return False
        inv = 1.0 / math.sqrt(s)
        a[j, j] = inv
        for i in range(j + 1, m):
            t = a[i, j]
            for p in range(j):
                t -= a[i, p] * a[j, p]
            a[i, j] = t * inv
    for i in range(m):  # L y = b
        t = b[i]
        for p in range(i):
            t -= a[i, p] * x[p]
        x[i] = t * a[i, i]
    for i in range(m - 1, -1, -1):  # L^T x = y
        t = x[i]
        for p in range(i + 1, m):
            t -= a[p, i] * x[p]
        x[i] = t * a[i, i]
    return True


@njit(cache=True, fastmath=False, error_model="numpy")
def _nnls(
    a: np.ndarray,
    b: np.ndarray,
    k: int,
    x: np.ndarray,
    sub_a: np.ndarray,
    sub_b: np.ndarray,
    sub_x: np.ndarray,
    passive: np.ndarray,
    where: np.ndarray,
    s: np.ndarray,
) -> bool:
    """Lawson-Hanson active-set solve of min ½xᵀax − bᵀx subject to x ≥ 0 (a SPD, k×k).

    ``a`` holds the full symmetric matrix (both triangles) and is not modified; the other
    arrays are scratch space of size k (k×k for ``sub_a``). The solution is unique because
    ``a`` is positive definite, so it equals what Spark's iterative NNLS converges to.
    Returns False when a sub-system is not positive definite.
    """
    scale = 0.0
    for i in range(k):
        scale = max(scale, abs(b[i]))
    tol = 1e-12 * max(scale, 1e-300)
    for i in range(k):
        x[i] = 0.0
        passive[i] = False
    for _outer in range(3 * k + 10):
        # Gradient of the objective's negative: w = b - a x; pick the most violated zero.
        best = -1
        best_w = tol
        for i in range(k):
            if passive[i]:
                continue
            w = b[i]
            for j in range(k):
                w -= a[i, j] * x[j]
            if w > best_w:
                best_w = w
                best = i
        if best < 0:
            return True
        passive[best] = True
        for _inner in range(3 * k + 10):
            m = 0
            for i in range(k):
                if passive[i]:
                    where[m] = i
                    m += 1
            for r in range(m):
                sub_b[r] = b[where[r]]
                for c in range(r + 1):
                    sub_a[r, c] = a[where[r], where[c]]
            if not _cholesky_solve(sub_a, sub_b, m, sub_x):
                return False
            for i in range(k):
                s[i] = 0.0
            feasible = True
            for r in range(m):
                s[where[r]] = sub_x[r]
                if sub_x[r] <= 0.0:
                    feasible = False
            if feasible:
                for i in range(k):
                    x[i] = s[i]
                break
            # Step from x towards s until the first passive coordinate hits zero; drop it.
            alpha = 2.0
            hit = -1
            for r in range(m):
                i = where[r]
                if s[i] <= 0.0:
                    gap = x[i] - s[i]
                    step = x[i] / gap if gap > 0.0 else 0.0
                    if step < alpha:
                        alpha = step
                        hit = i
            for i in range(k):
                x[i] += alpha * (s[i] - x[i])
            x[hit] = 0.0
            passive[hit] = False
            for r in range(m):
                i = where[r]
                if passive[i] and x[i] <= 0.0:
                    x[i] = 0.0
                    passive[i] = False
    return True


# --- type guards of the intrinsics ---------------------------------------------------------
# An intrinsic's typing function returns None for arguments it was not written for; numba
# then reports a TypingError at compile time instead of generating code that reinterprets
# memory. Bounds are not checkable here (they are run-time values): the callers keep every
# index inside the arrays.


def _is_c_array(t: Any, dtype: Any, ndim: int, *, writable: bool = False) -> bool:
    """True when numba type ``t`` is an ``ndim``-D C-contiguous array of ``dtype`` (and
    mutable, with ``writable``)."""
    return (
        isinstance(t, types.Array)
        and t.ndim == ndim
        and t.layout == "C"
        and t.dtype == dtype
        and (t.mutable or not writable)
    )


def _are_ints(*ts: Any) -> bool:
    return all(isinstance(t, types.Integer) for t in ts)


def _is_tuple_of(t: Any, n: int, dtype: Any | None) -> bool:
    """True for a homogeneous tuple of ``n`` items of ``dtype`` (None: any integer type)."""
    if not (isinstance(t, types.UniTuple) and t.count == n):
        return False
    return isinstance(t.dtype, types.Integer) if dtype is None else t.dtype == dtype


@intrinsic
def _prefetch(typingctx: Any, arr: Any, i: Any, j: Any) -> Any:
    """Hint the CPU to fetch the cache line of 2-D ``arr[i, j]`` (``llvm.prefetch``, read,
    keep in all cache levels). No effect on results; an out-of-range address is harmless
    (a prefetch never faults), but callers only pass valid indices. ``arr``: a 2-D
    C-contiguous float32 or float64 array; ``i``, ``j``: integers."""
    ok_arr = _is_c_array(arr, types.float32, 2) or _is_c_array(arr, types.float64, 2)
    if not (ok_arr and _are_ints(i, j)):
        return None
    sig = types.void(arr, i, j)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [
            context.cast(builder, args[1], signature.args[1], types.intp),
            context.cast(builder, args[2], signature.args[2], types.intp),
        ]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        flags = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(fn, [builder.bitcast(ptr, i8p), *flags])
        return context.get_dummy_value()

    return sig, codegen


# --- explicit-SIMD register tiles (upper storage) --------------------------------------------

_V = 4
"""Doubles per SIMD vector of the intrinsics below (256 bits; a CPU without AVX runs each
vector operation as two 128-bit ones, same results)."""


def _vector_helpers(builder: Any) -> tuple[Any, Any, Any]:
    """(4-double vector type, splat(x), muladd(p, q, r) = p·q + r) for the intrinsics' IR;
    ``llvm.fmuladd`` becomes one fused multiply-add where the CPU has FMA."""
    vec = ir.VectorType(ir.DoubleType(), _V)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fmuladd.v4f64"
    )
    undef = ir.Constant(vec, ir.Undefined)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), _V), [0] * _V)

    def splat(x: Any) -> Any:
        lane0 = builder.insert_element(undef, x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(lane0, undef, mask)

    def muladd(p: Any, q: Any, r: Any) -> Any:
        return builder.call(fma, [p, q, r])

    return vec, splat, muladd


def _vector_at(context: Any, builder: Any, aryty: Any, ary: Any, i: Any, j: Any) -> Any:
    """Pointer to the 4 doubles ary[i, j:j+4] (C-contiguous 2-D float64, no bounds check)."""
    ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i, j], wraparound=False)
    return builder.bitcast(ptr, ir.VectorType(ir.DoubleType(), _V).as_pointer())


def _plus(builder: Any, base: Any, n: int) -> Any:
    return builder.add(base, ir.Constant(base.type, n))


def _make_tile(n_vec: int) -> Any:
    """numba intrinsic ``tile(y, m, i0, j0, a, mode)`` for a 4 × (4·n_vec) register tile.

    For r < 4 and j0 <= c < j0 + 4·n_vec it computes s[r, c] = Σ_{b<m} y[b, i0+r]·y[b, c]
    (float64, in the order b = 0, 1, …, one fused multiply-add where the CPU has them) and
    then sets ``a[i0+r, c]`` to s (``mode`` 0), a + s (1) or a − s (2). The 4·n_vec sums of
    a row are kept in n_vec vectors, each multiply-add takes one broadcast y[b, i0+r] and one
    vector load y[b, c:c+4], so no horizontal sum is needed (the engine's earlier 4×4 tiles
    reduced along b and paid one per sum). numba's vectoriser does not form these tiles
    from scalar code. No bounds checks: callers keep every index inside ``y`` and ``a``
    (float64, C-contiguous 2-D; other types are refused at compile time).
    """

    @intrinsic
    def tile(typingctx: Any, y: Any, m: Any, i0: Any, j0: Any, a: Any, mode: Any) -> Any:
        if not (
            _is_c_array(y, types.float64, 2)
            and _is_c_array(a, types.float64, 2, writable=True)
            and _are_ints(m, i0, j0, mode)
        ):
            return None
        sig = types.void(y, m, i0, j0, a, mode)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            yty, mty, i0ty, j0ty, aty, modety = signature.args
            yary = context.make_array(yty)(context, builder, args[0])
            aary = context.make_array(aty)(context, builder, args[4])
            intp = context.get_value_type(types.intp)
            m_ = context.cast(builder, args[1], mty, types.intp)
            i0_ = context.cast(builder, args[2], i0ty, types.intp)
            j0_ = context.cast(builder, args[3], j0ty, types.intp)
            mode_ = context.cast(builder, args[5], modety, types.intp)
            vec, splat, muladd = _vector_helpers(builder)
            zero = ir.Constant(vec, [0.0] * _V)
            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(n_vec)] for _ in "abcd"]
            with cgutils.for_range(builder, m_, intp=intp) as loop:
                b = loop.index
                z = [
                    builder.load(
                        _vector_at(context, builder, yty, yary, b, _plus(builder, j0_, _V * c)),
                        align=8,
                    )
                    for c in range(n_vec)
                ]
                for r in range(4):
                    ptr = cgutils.get_item_pointer(
                        context, builder, yty, yary, [b, _plus(builder, i0_, r)], wraparound=False
                    )
                    x = splat(builder.load(ptr))
                    for c in range(n_vec):
                        builder.store(muladd(x, z[c], builder.load(acc[r][c])), acc[r][c])
            add = builder.icmp_signed("==", mode_, ir.Constant(intp, 1))
            sub = builder.icmp_signed("==", mode_, ir.Constant(intp, 2))
            for r in range(4):
                for c in range(n_vec):
                    ptr = _vector_at(
                        context,
                        builder,
                        aty,
                        aary,
                        _plus(builder, i0_, r),
                        _plus(builder, j0_, _V * c),
                    )
                    s = builder.load(acc[r][c])
                    old = builder.load(ptr, align=8)
                    new = builder.select(sub, builder.fsub(old, s), s)
                    builder.store(builder.select(add, builder.fadd(old, s), new), ptr, align=8)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile_4x12 = _make_tile(3)
_tile_4x8 = _make_tile(2)
_tile_4x4 = _make_tile(1)


@intrinsic
def _strip_solve4(typingctx: Any, a: Any, j0: Any, c: Any, inv: Any, u: Any) -> Any:
    """Columns c … c+3 of the 4-row strip j0 of :func:`_cholesky_solve_upper`, as vectors:
    v0 = a[j0]·i0, v1 = (a[j0+1] − u01·v0)·i1, v2 = (a[j0+2] − u02·v0 − u12·v1)·i2,
    v3 = (a[j0+3] − u03·v0 − u13·v1 − u23·v2)·i3, stored back; ``inv`` = (i0, i1, i2, i3)
    and ``u`` = (u01, u02, u03, u12, u13, u23) are float64 tuples; ``a`` a writable 2-D
    C-contiguous float64 array."""
    if not (
        _is_c_array(a, types.float64, 2, writable=True)
        and _are_ints(j0, c)
        and _is_tuple_of(inv, 4, types.float64)
        and _is_tuple_of(u, 6, types.float64)
    ):
        return None
    sig = types.void(a, j0, c, inv, u)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aty, j0ty, cty = signature.args[:3]
        ary = context.make_array(aty)(context, builder, args[0])
        j0_ = context.cast(builder, args[1], j0ty, types.intp)
        c_ = context.cast(builder, args[2], cty, types.intp)
        _, splat, muladd = _vector_helpers(builder)
        iv = [splat(builder.extract_value(args[3], r)) for r in range(4)]
        uv = [builder.fneg(splat(builder.extract_value(args[4], q))) for q in range(6)]
        ptrs = [
            _vector_at(context, builder, aty, ary, _plus(builder, j0_, r), c_) for r in range(4)
        ]
        a0, a1, a2, a3 = (builder.load(p, align=8) for p in ptrs)
        v0 = builder.fmul(a0, iv[0])
        v1 = builder.fmul(muladd(uv[0], v0, a1), iv[1])
        v2 = builder.fmul(muladd(uv[3], v1, muladd(uv[1], v0, a2)), iv[2])
        v3 = builder.fmul(muladd(uv[5], v2, muladd(uv[4], v1, muladd(uv[2], v0, a3))), iv[3])
        for p, v in zip(ptrs, (v0, v1, v2, v3), strict=True):
            builder.store(v, p, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _muladd4(typingctx: Any, y: Any, yi: Any, x: Any, xi: Any, xj: Any, s: Any) -> Any:
    """y[yi, 0:4] += x[xi, xj:xj+4] · s lane by lane (one vector multiply-add; ``s`` a tuple
    of 4 float64; ``y`` writable and ``x`` 2-D C-contiguous float64 arrays)."""
    if not (
        _is_c_array(y, types.float64, 2, writable=True)
        and _is_c_array(x, types.float64, 2)
        and _are_ints(yi, xi, xj)
        and _is_tuple_of(s, 4, types.float64)
    ):
        return None
    sig = types.void(y, yi, x, xi, xj, s)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        yty, yity, xty, xity, xjty = signature.args[:5]
        yary = context.make_array(yty)(context, builder, args[0])
        xary = context.make_array(xty)(context, builder, args[2])
        yi_ = context.cast(builder, args[1], yity, types.intp)
        xi_ = context.cast(builder, args[3], xity, types.intp)
        xj_ = context.cast(builder, args[4], xjty, types.intp)
        vec, _, muladd = _vector_helpers(builder)
        sv = ir.Constant(vec, ir.Undefined)
        for lane in range(_V):
            value = builder.extract_value(args[5], lane)
            sv = builder.insert_element(sv, value, ir.Constant(ir.IntType(32), lane))
        yp = _vector_at(context, builder, yty, yary, yi_, ir.Constant(yi_.type, 0))
        xv = builder.load(_vector_at(context, builder, xty, xary, xi_, xj_), align=8)
        builder.store(muladd(xv, sv, builder.load(yp, align=8)), yp, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _block_row(y: np.ndarray, m: int, i0: int, c0: int, c1: int, a: np.ndarray, mode: int) -> None:
    """a[i0:i0+4, c0:c1] (mode 0: =, 1: +=, 2: −=) Σ_{b<m} y[b, i0:i0+4]ᵀ y[b, c0:c1], as
    4×12 register tiles and one 4×8 or 4×4 tile for the rest (c1 − c0 a multiple of 4)."""
    c = c0
    while c + 12 <= c1:
        _tile_4x12(y, m, i0, c, a, mode)
        c += 12
    if c + 8 <= c1:
        _tile_4x8(y, m, i0, c, a, mode)
        c += 8
    if c < c1:
        _tile_4x4(y, m, i0, c, a, mode)


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _gram_upper(y: np.ndarray, m: int, rows: int, w: int, a: np.ndarray, mode: int) -> None:
    """Upper storage of Σ_{b<m} y[b]ᵀ y[b]: for every 4-row block i0 < ``rows`` the entries
    a[i0:i0+4, i0:w] (mode as :func:`_block_row`; the lower half of each 4×4 diagonal block
    is computed too and ignored by the callers). ``w`` is a multiple of 4 ≤ y's columns."""
    for i0 in range(0, rows, 4):
        _block_row(y, m, i0, i0, w, a, mode)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _cholesky_solve_upper(
    a: np.ndarray, n: int, w: int, x: np.ndarray, dinv: np.ndarray, tv: np.ndarray
) -> bool:
    """Solve the SPD system A x = b held as upper storage ``a[:n, :n]`` with b in column n.

    ``w`` (n + 1 rounded up to 4) columns are in use, those past n finite (zeros). ``a`` is
    overwritten: rows < n by the Cholesky factor U (A = UᵀU; diagonal not stored — 1/U_jj
    goes to ``dinv``) and column n by y = U⁻ᵀb, so the forward substitution comes out of the
    factorisation itself; x[:n] = U⁻¹y by back substitution, 4 rows at a time. Blocked
    left-looking by rows of 4: each 4-row strip first takes the update −Σ_{p<J} U[p]ᵀU[p]
    from the finished rows as register tiles (:func:`_block_row`), then its 4×4 diagonal
    block is factorised in scalars and the strip's columns solved with it in one SIMD pass.
    Returns False when A is not positive definite (x is then undefined).
    """
    for j0 in range(0, n, 4):
        if j0 > 0:
            _block_row(a, j0, j0, j0, w, a, 2)
        if j0 + 4 <= n:
            # The 4×4 diagonal block as LDLᵀ first (a chain of three divisions), then
            # U = D^½Lᵀ: its four square roots no longer wait for one another.
            d0 = a[j0, j0]
            if not d0 > 0.0:
                return False
            r0 = 1.0 / d0
            a01 = a[j0, j0 + 1]
            a02 = a[j0, j0 + 2]
            a03 = a[j0, j0 + 3]
            d1 = a[j0 + 1, j0 + 1] - a01 * a01 * r0
            if not d1 > 0.0:
                return False
            r1 = 1.0 / d1
            e12 = a[j0 + 1, j0 + 2] - a01 * a02 * r0
            e13 = a[j0 + 1, j0 + 3] - a01 * a03 * r0
            d2 = a[j0 + 2, j0 + 2] - a02 * a02 * r0 - e12 * e12 * r1
            if not d2 > 0.0:
                return False
            r2 = 1.0 / d2
            e23 = a[j0 + 2, j0 + 3] - a02 * a03 * r0 - e12 * e13 * r1
            d3 = a[j0 + 3, j0 + 3] - a03 * a03 * r0 - e13 * e13 * r1 - e23 * e23 * r2
            if not d3 > 0.0:
                return False
            i0 = math.sqrt(r0)
            i1 = math.sqrt(r1)
            i2 = math.sqrt(r2)
            i3 = 1.0 / math.sqrt(d3)
            u01 = a01 * i0
            u02 = a02 * i0
            u03 = a03 * i0
            u12 = e12 * i1
            u13 = e13 * i1
            u23 = e23 * i2
            dinv[j0] = i0
            dinv[j0 + 1] = i1
            dinv[j0 + 2] = i2
            dinv[j0 + 3] = i3
            a[j0, j0 + 1] = u01
            a[j0, j0 + 2] = u02
            a[j0, j0 + 3] = u03
            a[j0 + 1, j0 + 2] = u12
            a[j0 + 1, j0 + 3] = u13
            a[j0 + 2, j0 + 3] = u23
            invs = (i0, i1, i2, i3)
            us = (u01, u02, u03, u12, u13, u23)
            for c in range(j0 + 4, w, 4):
                _strip_solve4(a, j0, c, invs, us)  # type: ignore[call-arg]
        else:  # the last 1-3 rows, one at a time
            for row in range(j0, n):
                for q in range(j0, row):
                    u = a[q, row]
                    for c in range(row, w):
                        a[row, c] -= u * a[q, c]
                d = a[row, row]
                if not d > 0.0:
                    return False
                inv = 1.0 / math.sqrt(d)
                dinv[row] = inv
                for c in range(row + 1, w):
                    a[row, c] *= inv
    # Back substitution U x = y, from the bottom. The partial strip's rows one by one;
    # then whole strips: once x[j0:j0+4] is known, every row p above takes its share
    # U[p, j0:j0+4]·x[j0:j0+4] as four lanes added to tv[p] (one SIMD multiply-add, no
    # horizontal sum), so a strip's own solve waits only for the sum of its 4 lanes.
    top = (n // 4) * 4
    for p in range(top):
        tv[p, 0] = 0.0
        tv[p, 1] = 0.0
        tv[p, 2] = 0.0
        tv[p, 3] = 0.0
    for i in range(n - 1, top - 1, -1):
        t = a[i, n]
        for j in range(i + 1, n):
            t -= a[i, j] * x[j]
        xi = t * dinv[i]
        x[i] = xi
        for p in range(top):
            tv[p, i - top] += a[p, i] * xi
    for j0 in range(top - 4, -1, -4):
        t0 = a[j0, n] - (tv[j0, 0] + tv[j0, 1] + tv[j0, 2] + tv[j0, 3])
        t1 = a[j0 + 1, n] - (tv[j0 + 1, 0] + tv[j0 + 1, 1] + tv[j0 + 1, 2] + tv[j0 + 1, 3])
        t2 = a[j0 + 2, n] - (tv[j0 + 2, 0] + tv[j0 + 2, 1] + tv[j0 + 2, 2] + tv[j0 + 2, 3])
        t3 = a[j0 + 3, n] - (tv[j0 + 3, 0] + tv[j0 + 3, 1] + tv[j0 + 3, 2] + tv[j0 + 3, 3])
        x3 = t3 * dinv[j0 + 3]
        x2 = (t2 - a[j0 + 2, j0 + 3] * x3) * dinv[j0 + 2]
        x1 = (t1 - a[j0 + 1, j0 + 2] * x2 - a[j0 + 1, j0 + 3] * x3) * dinv[j0 + 1]
        x0 = (t0 - a[j0, j0 + 1] * x1 - a[j0, j0 + 2] * x2 - a[j0, j0 + 3] * x3) * dinv[j0]
        x[j0] = x0
        x[j0 + 1] = x1
        x[j0 + 2] = x2
        x[j0 + 3] = x3
        xs = (x0, x1, x2, x3)
        for p in range(j0):
            _muladd4(tv, p, a, p, j0, xs)  # type: ignore[call-arg]
    return True


@intrinsic
def _transpose4(typingctx: Any, src: Any, rows: Any, f: Any, yt: Any, t: Any) -> Any:
    """yt[f+r, t+i] = float64(src[rows[i], f+r]) for r, i < 4: four float32 factor rows'
    entries f … f+3 loaded as vectors, widened and transposed in registers (8 shuffles), so
    the factor-major gather of :func:`_gather_cols` stores whole vectors instead of single
    doubles. ``src``: 2-D C-contiguous float32; ``yt``: writable 2-D C-contiguous float64;
    ``rows`` a tuple of 4 integers; no bounds checks."""
    if not (
        _is_c_array(src, types.float32, 2)
        and _is_c_array(yt, types.float64, 2, writable=True)
        and _is_tuple_of(rows, 4, None)
        and _are_ints(f, t)
    ):
        return None
    sig = types.void(src, rows, f, yt, t)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        sty, rty, fty, yty, tty = signature.args
        sary = context.make_array(sty)(context, builder, args[0])
        yary = context.make_array(yty)(context, builder, args[3])
        f_ = context.cast(builder, args[2], fty, types.intp)
        t_ = context.cast(builder, args[4], tty, types.intp)
        f4 = ir.VectorType(ir.FloatType(), _V)
        vec = ir.VectorType(ir.DoubleType(), _V)
        i32 = ir.IntType(32)
        loaded = []
        for i in range(4):
            row = context.cast(builder, builder.extract_value(args[1], i), rty[i], types.intp)
            ptr = cgutils.get_item_pointer(context, builder, sty, sary, [row, f_], wraparound=False)
            four = builder.load(builder.bitcast(ptr, f4.as_pointer()), align=4)
            loaded.append(builder.fpext(four, vec))

        def shuf(p: Any, q: Any, mask: list[int]) -> Any:
            return builder.shuffle_vector(p, q, ir.Constant(ir.VectorType(i32, _V), mask))

        a0 = shuf(loaded[0], loaded[1], [0, 4, 2, 6])
        a1 = shuf(loaded[0], loaded[1], [1, 5, 3, 7])
        a2 = shuf(loaded[2], loaded[3], [0, 4, 2, 6])
        a3 = shuf(loaded[2], loaded[3], [1, 5, 3, 7])
        cols = [
            shuf(a0, a2, [0, 1, 4, 5]),
            shuf(a1, a3, [0, 1, 4, 5]),
            shuf(a0, a2, [2, 3, 6, 7]),
            shuf(a1, a3, [2, 3, 6, 7]),
        ]
        for r in range(4):
            fr = builder.add(f_, ir.Constant(f_.type, r))
            ptr = cgutils.get_item_pointer(context, builder, yty, yary, [fr, t_], wraparound=False)
            builder.store(cols[r], builder.bitcast(ptr, vec.as_pointer()), align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather_cols(
    indices: np.ndarray, values: np.ndarray, src: np.ndarray, start: int, n: int, yt: np.ndarray
) -> None:
    """yt[:k, t] = src[indices[start + t]] and yt[k, t] = values[start + t] (float64), t < n:
    one rating per column (the factor-major layout of the dual Gram's register tiles). Four
    ratings × four factors at a time through :func:`_transpose4`, the rest one by one."""
    k = src.shape[1]
    k4 = (k // 4) * 4
    t = 0
    while t + 4 <= n:
        rows = (
            indices[start + t],
            indices[start + t + 1],
            indices[start + t + 2],
            indices[start + t + 3],
        )
        for f in range(0, k4, 4):
            _transpose4(src, rows, f, yt, t)  # type: ignore[call-arg]
        for u in range(4):
            col = indices[start + t + u]
            for f in range(k4, k):
                yt[f, t + u] = np.float64(src[col, f])
            yt[k, t + u] = np.float64(values[start + t + u])
        t += 4
    while t < n:
        col = indices[start + t]
        for f in range(k):
            yt[f, t] = np.float64(src[col, f])
        yt[k, t] = np.float64(values[start + t])
        t += 1


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather_rows(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    p0: int,
    m: int,
    stop: int,
    y: np.ndarray,
    ahead: bool,
) -> None:
    """y[t, :k] = src[indices[p0 + t]] and y[t, k] = values[p0 + t] (float64), t < m: one
    rating per row, its factors contiguous (columns past k are left as they are). With
    ``ahead`` the factor row of the rating 8 places on (up to ``stop``) is prefetched."""
    k = src.shape[1]
    for t in range(m):
        p = p0 + t
        if ahead and p + 8 < stop:
            cn = indices[p + 8]
            for f in range(0, k, 16):
                _prefetch(src, cn, f)  # type: ignore[call-arg]
            _prefetch(src, cn, k - 1)  # type: ignore[call-arg]
        col = indices[p]
        for f in range(k):
            y[t, f] = np.float64(src[col, f])
        y[t, k] = np.float64(values[p])


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _row_dual_small(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    start: int,
    n: int,
    lam: float,
    small_y: np.ndarray,
    small_gram: np.ndarray,
    small_v: np.ndarray,
    small_z: np.ndarray,
    sol: np.ndarray,
) -> bool:
    """Dual-small path: sol[:k] = (YᵀY + lam·I)⁻¹ Yᵀv through the n×n dual system (lam > 0).

    Y (n×k) holds the row's factor vectors ``src[indices[start:start+n]]`` and v its
    ratings; with lam > 0 the identity (YᵀY + lam·I)⁻¹Yᵀ = Yᵀ(YYᵀ + lam·I)⁻¹ gives the
    same minimiser as the k×k normal equations from an n×n Cholesky solve (z) and x = Yᵀz:
    O(n²k + n³) work instead of O(nk² + k³). YYᵀ takes one dot product per lower-triangle
    entry and :func:`_cholesky_solve` solves it row by row — for these few ratings (at most
    ``plan.dual_small``) faster than the register tiles' fixed costs. Scratch (this path's
    own): ``small_y`` (≥ n × k) the gathered factors, ``small_gram`` (≥ n × n) the dual
    Gram and its factor, ``small_v`` the ratings, ``small_z`` the dual solution. Returns
    False when the system is not positive definite.
    """
    k = src.shape[1]
    if n == 1:  # a third of the movies: x = v·y / (y·y + lam), no copies
        col = indices[start]
        acc = 0.0
        for f in range(k):
            acc += np.float64(src[col, f]) * np.float64(src[col, f])
        scale = np.float64(values[start]) / (acc + lam)
        for f in range(k):
            sol[f] = scale * np.float64(src[col, f])
        return True
    for t in range(n):
        col = indices[start + t]
        for f in range(k):
            small_y[t, f] = np.float64(src[col, f])
        small_v[t] = np.float64(values[start + t])
    for i in range(n):
        for j in range(i + 1):
            acc = 0.0
            for f in range(k):
                acc += small_y[i, f] * small_y[j, f]
            small_gram[i, j] = acc
    for i in range(n):
        small_gram[i, i] += lam
    if not _cholesky_solve(small_gram, small_v, n, small_z):
        return False
    for f in range(k):
        sol[f] = 0.0
    for t in range(n):
        zt = small_z[t]
        for f in range(k):
            sol[f] += zt * small_y[t, f]
    return True


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _row_dual_tiled(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    start: int,
    n: int,
    lam: float,
    cols: np.ndarray,
    dual_z: np.ndarray,
    gram: np.ndarray,
    dinv: np.ndarray,
    tv: np.ndarray,
    sol: np.ndarray,
) -> bool:
    """Dual-tiled path: the same minimiser as :func:`_row_dual_small` for longer rows.

    The ratings' factor vectors are gathered as *columns* of ``cols`` (factor-major, row k
    the ratings; :func:`_gather_cols`), columns n … wn−1 zeroed (wn = n + 1 rounded up to
    4), the n×n dual Gram with the ratings as column n accumulated as register tiles into
    the upper storage of ``gram`` (:func:`_gram_upper`), λ added to its diagonal, and
    :func:`_cholesky_solve_upper` solves it in place into ``dual_z`` (using ``dinv``/``tv``);
    then sol = Yᵀz from the factor rows again (contiguous, still cached). Returns False when
    the system is not positive definite.
    """
    k = src.shape[1]
    wn = ((n + 1 + 3) // 4) * 4
    _gather_cols(indices, values, src, start, n, cols)
    for f in range(k):
        for t in range(n, wn):
            cols[f, t] = 0.0
    _gram_upper(cols, k, n, wn, gram, 0)
    for i in range(n):
        gram[i, i] += lam
        gram[i, n] = cols[k, i]
    ok = _cholesky_solve_upper(gram, n, wn, dual_z, dinv, tv)
    if ok:
        for f in range(k):
            sol[f] = 0.0
        for t in range(n):
            zt = dual_z[t]
            col = indices[start + t]
            for f in range(k):
                sol[f] += zt * np.float64(src[col, f])
    return ok


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _row_primal_gram(
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    start: int,
    stop: int,
    chunk: int,
    ahead: bool,
    rows: np.ndarray,
    gram: np.ndarray,
) -> None:
    """Primal path, first half: the upper storage of the extended Gram matrix
    Σ_j (y_j, v_j)ᵀ(y_j, v_j) of the row's ratings ``start:stop`` into ``gram`` (column k is
    the right-hand side Σ v·y). The ratings are gathered as rows of [y, v] into ``rows``
    (:func:`_gather_rows`, prefetching when ``ahead``) in equal passes of at most ``chunk``,
    each pass added as register tiles (:func:`_gram_upper`)."""
    k = src.shape[1]
    w = ((k + 1 + 3) // 4) * 4
    n = stop - start
    passes = (n + chunk - 1) // chunk
    for q in range(passes):
        p0 = start + (n * q) // passes
        m = start + (n * (q + 1)) // passes - p0
        _gather_rows(indices, values, src, p0, m, stop, rows, ahead)
        _gram_upper(rows, m, k, w, gram, 0 if q == 0 else 1)


@njit(parallel=True, cache=True, fastmath=_FAST, error_model="numpy")
def _solve_half(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    reg_param: float,
    nonnegative: bool,
    dst: np.ndarray,
    bounds: np.ndarray,
    dual_max: int,
    dual_small: int,
    chunk: int,
    ahead: bool,
) -> int:
    """One ALS half-step: every row r of ``dst`` solves Spark's regularised normal equations.

    (Σ_{j∈row r} y_j y_jᵀ + reg_param·n_r·I) x_r = Σ_j v_rj y_j, with y_j = ``src[j]`` read
    from float32 into float64, solved by Cholesky (or Lawson-Hanson NNLS when
    ``nonnegative``) and stored into ``dst[r]`` as float32. ``indptr``/``indices``/``values``
    are the CSR of the ratings in the orientation of ``dst`` (users for a user step). Rows
    without ratings get zeros (cannot happen for rows built from ratings).

    ``bounds``, ``dual_max``, ``dual_small`` and ``chunk`` come from a
    :class:`~._local_plan.HalfPlan`: ``bounds`` splits the rows into contiguous parallel
    tasks; rows with at most ``dual_max`` ratings (0 when reg_param = 0 or ``nonnegative``)
    take the n×n dual system — up to ``dual_small`` ratings :func:`_row_dual_small`, longer
    ones :func:`_row_dual_tiled` — and the others the primal system: the extended Gram
    matrix (:func:`_row_primal_gram`, ``chunk`` ratings per gather, prefetching when
    ``ahead``), λ on its diagonal, then :func:`_cholesky_solve_upper` in place (or
    :func:`_nnls` on a full copy). :func:`~._local_plan.solve_half_flops` counts the work.

    Returns the number of rows whose system was not positive definite (0 when reg_param > 0).
    """
    k = src.shape[1]
    w = ((k + 1 + 3) // 4) * 4  # padded_rank(k)
    dw = ((dual_max + 1 + 3) // 4) * 4  # the widest dual-tiled system
    side = max(w, dw)
    small = max(1, min(dual_max, dual_small))
    n_tasks = bounds.shape[0] - 1
    failed = np.zeros(n_tasks, dtype=np.int64)
    for c in prange(n_tasks):
        # Scratch of one task, by path. Shared by the dual-tiled and primal paths: the upper
        # Gram storage the blocked Cholesky factorises in place, its inverse diagonal, the
        # back substitution's 4-lane partial sums, and the solution.
        gram = np.zeros((side, side), dtype=np.float64)
        dinv = np.empty(side, dtype=np.float64)
        tv = np.empty((side, 4), dtype=np.float64)
        sol = np.zeros(side, dtype=np.float64)
        # Primal: up to `chunk` gathered ratings as rows [y_j, v_j, 0 …].
        rows = np.zeros((chunk, w), dtype=np.float64)
        # Dual-tiled: the ratings as columns (factor-major; row k the ratings) and the dual
        # solution z. +4 columns: a row stride that is a multiple of 512 bytes would put the
        # rows one tile reads together into the same L1 cache sets.
        cols = np.zeros((k + 1, dw + 4), dtype=np.float64)
        dual_z = np.zeros(side, dtype=np.float64)
        # Dual-small: gathered factors, the lower dual Gram, ratings, dual solution.
        small_y = np.empty((small, k), dtype=np.float64)
        small_gram = np.empty((small, small), dtype=np.float64)
        small_v = np.empty(small, dtype=np.float64)
        small_z = np.empty(small, dtype=np.float64)
        # Nonnegative primal rows (Lawson-Hanson): the full symmetric matrix, the
        # right-hand side and the active-set solver's own scratch.
        nn_full = np.empty((k, k), dtype=np.float64)
        nn_b = np.empty(k, dtype=np.float64)
        nn_sub_a = np.empty((k, k), dtype=np.float64)
        nn_sub_b = np.empty(k, dtype=np.float64)
        nn_sub_x = np.empty(k, dtype=np.float64)
        nn_passive = np.empty(k, dtype=np.bool_)
        nn_where = np.empty(k, dtype=np.int64)
        nn_s = np.empty(k, dtype=np.float64)
        for r in range(bounds[c], bounds[c + 1]):
            start = indptr[r]
            stop = indptr[r + 1]
            n = stop - start
            if n == 0:
                for f in range(k):
                    dst[r, f] = 0.0
                continue
            lam = reg_param * np.float64(n)
            if n <= dual_max:
                if n <= dual_small:
                    ok = _row_dual_small(
                        indices,
                        values,
                        src,
                        start,
                        n,
                        lam,
                        small_y,
                        small_gram,
                        small_v,
                        small_z,
                        sol,
                    )
                else:
                    ok = _row_dual_tiled(
                        indices,
                        values,
                        src,
                        start,
                        n,
                        lam,
                        cols,
                        dual_z,
                        gram,
                        dinv,
                        tv,
                        sol,
                    )
            else:
                _row_primal_gram(indices, values, src, start, stop, chunk, ahead, rows, gram)
                for i in range(k):
                    gram[i, i] += lam
                if nonnegative:
                    for i in range(k):
                        nn_b[i] = gram[i, k]
                        for j in range(i, k):
                            nn_full[i, j] = gram[i, j]
                            nn_full[j, i] = gram[i, j]
                    ok = _nnls(
                        nn_full,
                        nn_b,
                        k,
                        sol,
                        nn_sub_a,
                        nn_sub_b,
                        nn_sub_x,
                        nn_passive,
                        nn_where,
                        nn_s,
                    )
                else:
                    ok = _cholesky_solve_upper(gram, k, w, sol, dinv, tv)
            if ok:
                for f in range(k):
                    dst[r, f] = np.float32(sol[f])
            else:
                failed[c] += 1
                for f in range(k):
                    dst[r, f] = np.nan
    return int(failed.sum())


@njit(parallel=True, cache=True, fastmath=_FAST, error_model="numpy")
def _gram(src: np.ndarray) -> np.ndarray:
    """YᵀY of the float32 rows of ``src`` in float64 (Spark's ``computeYtY``).

    Rows are split into at most 256 contiguous parts (one partial sum each, parallel), then
    the partial sums are added in part order, so the result does not depend on the thread
    count. Each part widens its rows to float64 48 at a time (columns padded with zeros to a
    multiple of 4) and adds their upper Gram as register tiles (:func:`_gram_upper`); the
    upper triangle is mirrored into the lower one.
    """
    n = src.shape[0]
    k = src.shape[1]
    w = ((k + 3) // 4) * 4
    n_parts = max(1, min(256, (n + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK))
    parts = np.zeros((n_parts, w, w), dtype=np.float64)
    for c in prange(n_parts):
        rows = np.zeros((48, w), dtype=np.float64)
        acc = np.zeros((w, w), dtype=np.float64)
        lo = (n * c) // n_parts
        hi = (n * (c + 1)) // n_parts
        for b0 in range(lo, hi, 48):
            m = min(48, hi - b0)
            for t in range(m):
                for f in range(k):
                    rows[t, f] = np.float64(src[b0 + t, f])
            _gram_upper(rows, m, k, w, acc, 1)
        for i in range(w):
            for j in range(w):
                parts[c, i, j] = acc[i, j]
    out = np.zeros((k, k), dtype=np.float64)
    for c in range(n_parts):
        for i in range(k):
            for j in range(i, k):
                out[i, j] += parts[c, i, j]
    for i in range(k):
        for j in range(i + 1, k):
            out[j, i] = out[i, j]
    return out


# --- implicit feedback: Hu-Koren-Volinsky (Spark's implicitPrefs) and iALS (Rendle et al.) ---
#
# Both objectives give every row r the system
#
#     (G + Σ_j c_j y_j y_jᵀ + λ_r·I) x_r = Σ_j t_j y_j
#
# with G the fixed side's Gramian (scaled by the caller), per entry v_j a weight c_j and a
# target t_j (:func:`_entry_weight`), and λ_r from the row's count of positive entries
# (:func:`_row_reg`). They are solved exactly (Cholesky, :func:`_solve_half_implicit`) or by
# a few conjugate-gradient steps warm-started from the previous factors
# (:func:`_solve_half_cg`).


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _entry_weight(v: float, alpha: float, ials: bool) -> tuple[float, float]:
    """(c, t) of one entry v of the implicit system above.

    Hu-Koren-Volinsky (Spark): c = alpha·|v| (the confidence 1 + alpha·|v| minus the 1 that G
    already holds), t = 1 + alpha·|v| if v > 0 else 0 (a v ≤ 0 adds confidence, not
    preference). iALS (``ials``): binary — c = t = 1 if v > 0 else 0."""
    if ials:
        if v > 0.0:
            return 1.0, 1.0
        return 0.0, 0.0
    c = alpha * abs(v)
    if v > 0.0:
        return c, 1.0 + c
    return c, 0.0


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _row_reg(reg_param: float, n_pos: int, ials: bool, reg_extra: float, reg_exp: float) -> float:
    """λ_r of a row with ``n_pos`` positive entries: Spark's reg_param·n_pos, or iALS's
    reg_param·(n_pos + reg_extra)^reg_exp (reg_extra = α0·|fixed side|)."""
    if ials:
        return reg_param * (np.float64(n_pos) + reg_extra) ** reg_exp
    return reg_param * np.float64(n_pos)


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _solve_half_implicit(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    gram: np.ndarray,
    reg_param: float,
    alpha: float,
    nonnegative: bool,
    dst: np.ndarray,
    bounds: np.ndarray,
    ials: bool,
    reg_extra: float,
    reg_exp: float,
) -> int:
    """One implicit half-step solved exactly: for every row r of ``dst``

        (gram + Σ_j c_j y_j y_jᵀ + λ_r·I) x_r = Σ_j t_j y_j

    with y_j = ``src[j]`` (float32 read into float64), (c_j, t_j) from
    :func:`_entry_weight` and λ_r from :func:`_row_reg`. Without ``ials`` this is exactly
    Spark's ``computeFactors(implicitPrefs)`` when ``gram`` = YᵀY over every row of ``src``;
    with ``ials`` (and ``gram`` = α0·YᵀY) Rendle et al.'s iALS. The k×k system is copied from
    ``gram``, updated rating by rating and solved by Cholesky (or Lawson-Hanson NNLS with
    ``nonnegative``); stored as float32. Rows without entries get zeros. ``bounds`` (int64,
    from 0 to the number of rows) splits the rows into parallel tasks. Returns the number
    of rows whose system was not positive definite.
    """
    k = src.shape[1]
    n_tasks = bounds.shape[0] - 1
    failed = np.zeros(n_tasks, dtype=np.int64)
    for c in prange(n_tasks):
        # Scratch of one task: the system and right-hand side, the solution, one widened
        # factor row; the nonnegative solver's full matrix and its own scratch.
        a = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        x = np.empty(k, dtype=np.float64)
        y = np.empty(k, dtype=np.float64)
        nn_full = np.empty((k, k), dtype=np.float64)
        nn_sub_a = np.empty((k, k), dtype=np.float64)
        nn_sub_b = np.empty(k, dtype=np.float64)
        nn_sub_x = np.empty(k, dtype=np.float64)
        nn_passive = np.empty(k, dtype=np.bool_)
        nn_where = np.empty(k, dtype=np.int64)
        nn_s = np.empty(k, dtype=np.float64)
        for r in range(bounds[c], bounds[c + 1]):
            start = indptr[r]
            stop = indptr[r + 1]
            if stop == start:
                for f in range(k):
                    dst[r, f] = 0.0
                continue
            for i in range(k):
                b[i] = 0.0
                for j in range(k):
                    a[i, j] = gram[i, j]
            n_pos = 0
            for p in range(start, stop):
                v = np.float64(values[p])
                c1, tgt = _entry_weight(v, alpha, ials)
                col = indices[p]
                for f in range(k):
                    y[f] = np.float64(src[col, f])
                if c1 != 0.0:
                    for i in range(k):
                        cyi = c1 * y[i]
                        for j in range(k):
                            a[i, j] += cyi * y[j]
                if v > 0.0:
                    n_pos += 1
                    for i in range(k):
                        b[i] += tgt * y[i]
            lam = _row_reg(reg_param, n_pos, ials, reg_extra, reg_exp)
            for i in range(k):
                a[i, i] += lam
            if nonnegative:
                for i in range(k):
                    for j in range(i + 1):
                        nn_full[i, j] = a[i, j]
                        nn_full[j, i] = a[i, j]
                ok = _nnls(
                    nn_full, b, k, x, nn_sub_a, nn_sub_b, nn_sub_x, nn_passive, nn_where, nn_s
                )
            else:
                ok = _cholesky_solve(a, b, k, x)
            if not ok:
                failed[c] += 1
                for f in range(k):
                    dst[r, f] = np.nan
                continue
            for f in range(k):
                dst[r, f] = np.float32(x[f])
    return int(failed.sum())


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _gram_matvec(
    gram32: np.ndarray, vec32: np.ndarray, vec: np.ndarray, lam: float, out: np.ndarray
) -> None:
    """out = gram·vec + lam·vec (float64 ``out``): the k×k product in float32 SIMD lanes
    (``gram32``, ``vec32`` = float32(vec)), each entry widened to float64 before lam·vec is
    added."""
    k = vec.shape[0]
    for i in range(k):
        acc = np.float32(0.0)
        for j in range(k):
            acc += gram32[i, j] * vec32[j]
        out[i] = np.float64(acc) + lam * vec[i]


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather_factor_rows(
    indices: np.ndarray, src: np.ndarray, start: int, n: int, ybuf: np.ndarray
) -> None:
    """ybuf[t] = src[indices[start + t]] (float32 copies), t < n, prefetching the factor row
    8 entries ahead: the row's one random read of the factor matrix, so that every CG pass
    after it reads a contiguous copy from the cache."""
    k = src.shape[1]
    for t in range(n):
        if t + 8 < n:
            ahead = indices[start + t + 8]
            for f in range(0, k, 16):
                _prefetch(src, ahead, f)  # type: ignore[call-arg]
            _prefetch(src, ahead, k - 1)  # type: ignore[call-arg]
        col = indices[start + t]
        for f in range(k):
            ybuf[t, f] = src[col, f]


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _cg_residual_pass(
    ys: np.ndarray,
    rows: np.ndarray,
    off: int,
    values: np.ndarray,
    start: int,
    n: int,
    alpha: float,
    ials: bool,
    x32: np.ndarray,
    out: np.ndarray,
) -> int:
    """out += Σ_j (t_j − c_j·(y_j·x)) y_j over the row's n entries, y_j = ``ys[rows[off +
    j]]`` (float32), x32 = float32(x), (c_j, t_j) from ``values[start + j]``. Four entries at
    a time: four float32 dot products, their weights in float64, then the four scaled
    vectors summed in float32 and added to the float64 ``out``. Returns the count of
    entries v > 0."""
    k = ys.shape[1]
    n_pos = 0
    t = 0
    while t + 4 <= n:
        r0 = rows[off + t]
        r1 = rows[off + t + 1]
        r2 = rows[off + t + 2]
        r3 = rows[off + t + 3]
        d0 = np.float32(0.0)
        d1 = np.float32(0.0)
        d2 = np.float32(0.0)
        d3 = np.float32(0.0)
        for f in range(k):
            xf = x32[f]
            d0 += ys[r0, f] * xf
            d1 += ys[r1, f] * xf
            d2 += ys[r2, f] * xf
            d3 += ys[r3, f] * xf
        p = start + t
        c0, g0 = _entry_weight(np.float64(values[p]), alpha, ials)
        c1, g1 = _entry_weight(np.float64(values[p + 1]), alpha, ials)
        c2, g2 = _entry_weight(np.float64(values[p + 2]), alpha, ials)
        c3, g3 = _entry_weight(np.float64(values[p + 3]), alpha, ials)
        for q in range(4):
            if values[p + q] > 0.0:
                n_pos += 1
        w0 = np.float32(g0 - c0 * np.float64(d0))
        w1 = np.float32(g1 - c1 * np.float64(d1))
        w2 = np.float32(g2 - c2 * np.float64(d2))
        w3 = np.float32(g3 - c3 * np.float64(d3))
        for f in range(k):
            out[f] += np.float64(
                (w0 * ys[r0, f] + w1 * ys[r1, f]) + (w2 * ys[r2, f] + w3 * ys[r3, f])
            )
        t += 4
    while t < n:
        r0 = rows[off + t]
        d0 = np.float32(0.0)
        for f in range(k):
            d0 += ys[r0, f] * x32[f]
        p = start + t
        c0, g0 = _entry_weight(np.float64(values[p]), alpha, ials)
        if values[p] > 0.0:
            n_pos += 1
        w0 = np.float32(g0 - c0 * np.float64(d0))
        for f in range(k):
            out[f] += np.float64(w0 * ys[r0, f])
        t += 1
    return n_pos


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _cg_matvec_pass(
    ys: np.ndarray,
    rows: np.ndarray,
    off: int,
    values: np.ndarray,
    start: int,
    n: int,
    alpha: float,
    ials: bool,
    vec32: np.ndarray,
    out: np.ndarray,
) -> None:
    """out += Σ_j c_j (y_j·vec) y_j over the row's n entries, y_j = ``ys[rows[off + j]]``
    (the factors themselves through the CSR indices, or the row's gathered copy through
    0, 1, 2 …), vec32 = float32(vec), c_j from ``values[start + j]``; arithmetic as in
    :func:`_cg_residual_pass`."""
    k = ys.shape[1]
    t = 0
    while t + 4 <= n:
        r0 = rows[off + t]
        r1 = rows[off + t + 1]
        r2 = rows[off + t + 2]
        r3 = rows[off + t + 3]
        d0 = np.float32(0.0)
        d1 = np.float32(0.0)
        d2 = np.float32(0.0)
        d3 = np.float32(0.0)
        for f in range(k):
            vf = vec32[f]
            d0 += ys[r0, f] * vf
            d1 += ys[r1, f] * vf
            d2 += ys[r2, f] * vf
            d3 += ys[r3, f] * vf
        p = start + t
        w0 = np.float32(_entry_weight(np.float64(values[p]), alpha, ials)[0] * np.float64(d0))
        w1 = np.float32(_entry_weight(np.float64(values[p + 1]), alpha, ials)[0] * np.float64(d1))
        w2 = np.float32(_entry_weight(np.float64(values[p + 2]), alpha, ials)[0] * np.float64(d2))
        w3 = np.float32(_entry_weight(np.float64(values[p + 3]), alpha, ials)[0] * np.float64(d3))
        for f in range(k):
            out[f] += np.float64(
                (w0 * ys[r0, f] + w1 * ys[r1, f]) + (w2 * ys[r2, f] + w3 * ys[r3, f])
            )
        t += 4
    while t < n:
        r0 = rows[off + t]
        d0 = np.float32(0.0)
        for f in range(k):
            d0 += ys[r0, f] * vec32[f]
        w0 = np.float32(
            _entry_weight(np.float64(values[start + t]), alpha, ials)[0] * np.float64(d0)
        )
        for f in range(k):
            out[f] += np.float64(w0 * ys[r0, f])
        t += 1


@njit(parallel=True, cache=True, fastmath=_FAST, error_model="numpy")
def _solve_half_cg(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    gram32: np.ndarray,
    reg_param: float,
    alpha: float,
    dst: np.ndarray,
    bounds: np.ndarray,
    ials: bool,
    reg_extra: float,
    reg_exp: float,
    steps: int,
    buf_rows: int,
) -> None:
    """One implicit half-step by ``steps`` conjugate-gradient steps per row, warm-started
    from ``dst`` (the previous factors; overwritten by the new ones, float32).

    Same system as :func:`_solve_half_implicit` (``gram32`` its Gramian term in float32);
    CG needs only products with its matrix, A·p = gram·p + λ_r·p + Σ_j c_j (y_j·p) y_j:
    O(n·k + k²) per step instead of the O(n·k² + k³) of forming and factorising it. Per row:
    the row's factor vectors are copied into a contiguous buffer when there are at most
    ``buf_rows`` of them (:func:`_gather_factor_rows`, the one random read of the factor
    matrix; the buffer holds the task's longest row up to ``buf_rows``); x = dst[r]; the
    residual r = b − A·x in one pass over the entries
    (:func:`_cg_residual_pass`); then each step one pass (:func:`_cg_matvec_pass`) and the
    usual updates. The products over the factor vectors and the Gramian run in float32
    SIMD lanes (as in the `implicit` library), each dot product and each 4-entry partial
    sum widened to float64; x, r, p, A·p and the step sizes are float64. A step stops early
    when the residual's squared norm falls below 1e-20 (the row is solved). Each CG step
    minimises the row's quadratic over a growing Krylov space containing the start, so the
    objective does not increase (up to rounding). Rows without entries get zeros.
    """
    k = src.shape[1]
    n_tasks = bounds.shape[0] - 1
    for c in prange(n_tasks):
        # Scratch of one task: the iterate x, residual res, search direction pvec, A·pvec and
        # float32 copies of x / pvec for the SIMD products; the row's gathered factor
        # vectors (float32, like src) and their row numbers 0, 1, 2 … in that buffer.
        x = np.empty(k, dtype=np.float64)
        res = np.empty(k, dtype=np.float64)
        pvec = np.empty(k, dtype=np.float64)
        ap = np.empty(k, dtype=np.float64)
        vec32 = np.empty(k, dtype=np.float32)
        longest = 0
        for r in range(bounds[c], bounds[c + 1]):
            longest = max(longest, indptr[r + 1] - indptr[r])
        n_buf = min(longest, buf_rows)
        ybuf = np.empty((n_buf, k), dtype=np.float32)
        iota = np.arange(n_buf).astype(np.int32)
        for r in range(bounds[c], bounds[c + 1]):
            start = indptr[r]
            n = indptr[r + 1] - start
            if n == 0:
                for f in range(k):
                    dst[r, f] = 0.0
                continue
            buffered = n <= n_buf
            for f in range(k):
                x[f] = np.float64(dst[r, f])
                vec32[f] = dst[r, f]
                res[f] = 0.0
            if buffered:
                _gather_factor_rows(indices, src, start, n, ybuf)
                n_pos = _cg_residual_pass(ybuf, iota, 0, values, start, n, alpha, ials, vec32, res)
            else:
                n_pos = _cg_residual_pass(
                    src, indices, start, values, start, n, alpha, ials, vec32, res
                )
            lam = _row_reg(reg_param, n_pos, ials, reg_extra, reg_exp)
            _gram_matvec(gram32, vec32, x, lam, ap)
            rs = 0.0
            for f in range(k):
                res[f] -= ap[f]
                pvec[f] = res[f]
                rs += res[f] * res[f]
            for _ in range(steps):
                if rs < 1e-20:
                    break
                for f in range(k):
                    vec32[f] = np.float32(pvec[f])
                _gram_matvec(gram32, vec32, pvec, lam, ap)
                if buffered:
                    _cg_matvec_pass(ybuf, iota, 0, values, start, n, alpha, ials, vec32, ap)
                else:
                    _cg_matvec_pass(src, indices, start, values, start, n, alpha, ials, vec32, ap)
                pap = 0.0
                for f in range(k):
                    pap += pvec[f] * ap[f]
                if not pap > 0.0:
                    break
                step = rs / pap
                rs_new = 0.0
                for f in range(k):
                    x[f] += step * pvec[f]
                    res[f] -= step * ap[f]
                    rs_new += res[f] * res[f]
                beta = rs_new / rs
                for f in range(k):
                    pvec[f] = res[f] + beta * pvec[f]
                rs = rs_new
            for f in range(k):
                dst[r, f] = np.float32(x[f])


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _implicit_objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    alpha: float,
    ials: bool,
    row_extra: float,
    col_extra: float,
    reg_exp: float,
) -> tuple[float, float, float]:
    """Observed-entry parts of an implicit objective over a CSR, in float64.

    With s = x_r·y_c, p = [v > 0] and n = the count of entries with v > 0 (per row, per
    column), returns (corr, row_pen, col_pen):

    - Spark's form: corr = Σ_obs [c (p − s)² − s²] with c = 1 + alpha·|v|, row_pen =
      Σ_r n_r‖x_r‖², col_pen = Σ_c n_c‖y_c‖² (the caller adds Σ_all s² and the scale);
    - ``ials``: corr = Σ_{v>0} (1 − s)², row_pen = Σ_r (n_r + row_extra)^reg_exp ‖x_r‖², col_pen
      likewise with col_extra (the caller adds α0·Σ_all s² and λ).
    """
    n_rows = indptr.shape[0] - 1
    k = row_factors.shape[1]
    n_cols = col_factors.shape[0]
    corr = 0.0
    row_pen = 0.0
    for r in prange(n_rows):
        part = 0.0
        n_pos = 0
        for p in range(indptr[r], indptr[r + 1]):
            col = indices[p]
            dot = 0.0
            for f in range(k):
                dot += np.float64(row_factors[r, f]) * np.float64(col_factors[col, f])
            v = np.float64(values[p])
            if ials:
                if v > 0.0:
                    e = 1.0 - dot
                    part += e * e
            else:
                conf = 1.0 + alpha * abs(v)
                pref = 1.0 if v > 0.0 else 0.0
                e = pref - dot
                part += conf * e * e - dot * dot
            if v > 0.0:
                n_pos += 1
        corr += part
        norm = 0.0
        for f in range(k):
            xf = np.float64(row_factors[r, f])
            norm += xf * xf
        if ials:
            row_pen += (np.float64(n_pos) + row_extra) ** reg_exp * norm
        else:
            row_pen += np.float64(n_pos) * norm
    counts = np.zeros(n_cols, dtype=np.int64)
    for p in range(indices.shape[0]):
        if values[p] > 0.0:
            counts[indices[p]] += 1
    col_pen = 0.0
    for c in prange(n_cols):
        norm = 0.0
        for f in range(k):
            yf = np.float64(col_factors[c, f])
            norm += yf * yf
        if ials:
            col_pen += (np.float64(counts[c]) + col_extra) ** reg_exp * norm
        else:
            col_pen += np.float64(counts[c]) * norm
    return corr, row_pen, col_pen


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    reg_param: float,
) -> tuple[float, float]:
    """(Σ (v − x_r·y_c)², reg_param·(Σ_r n_r‖x_r‖² + Σ_c n_c‖y_c‖²)) over a CSR, in float64."""
    n_rows = indptr.shape[0] - 1
    k = row_factors.shape[1]
    n_cols = col_factors.shape[0]
    sse = 0.0
    row_pen = 0.0
    for r in prange(n_rows):
        start = indptr[r]
        stop = indptr[r + 1]
        part = 0.0
        for p in range(start, stop):
            col = indices[p]
            dot = 0.0
            for f in range(k):
                dot += np.float64(row_factors[r, f]) * np.float64(col_factors[col, f])
            e = np.float64(values[p]) - dot
            part += e * e
        sse += part
        norm = 0.0
        for f in range(k):
            xf = np.float64(row_factors[r, f])
            norm += xf * xf
        row_pen += np.float64(stop - start) * norm
    counts = np.zeros(n_cols, dtype=np.int64)
    for p in range(indices.shape[0]):
        counts[indices[p]] += 1
    col_pen = 0.0
    for c in prange(n_cols):
        norm = 0.0
        for f in range(k):
            yf = np.float64(col_factors[c, f])
            norm += yf * yf
        col_pen += np.float64(counts[c]) * norm
    return sse, reg_param * (row_pen + col_pen)


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _predict_pairs(
    uidx: np.ndarray,
    iidx: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
) -> np.ndarray:
    """Scores of (user row, item row) pairs; NaN where either index is −1 (cold start).

    score = x_u·y_i summed in float64 in factor order, then ((score + mean) + b_u) + b_i for
    the biased model: the same arithmetic as :func:`top_n`, so predict and recommend agree
    to the last bit.
    """
    n = uidx.shape[0]
    k = user_factors.shape[1]
    out = np.empty(n, dtype=np.float64)
    for t in prange(n):
        u = uidx[t]
        i = iidx[t]
        if u < 0 or i < 0:
            out[t] = np.nan
            continue
        s = 0.0
        for f in range(k):
            s += np.float64(user_factors[u, f]) * np.float64(item_factors[i, f])
        if biased:
            s = s + mean + user_bias[u] + item_bias[i]
        out[t] = s
    return out


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _top_n(
    urows: np.ndarray,
    user_factors: np.ndarray,
    item_factors_t: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
    ex_rows: np.ndarray,
    ex_indptr: np.ndarray,
    ex_items: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``n`` items for each user row in ``urows``, seen items excluded, ties by item row.

    Users are processed in blocks (one parallel task per block, one score buffer per task).
    For each user the scores of all items are a matrix-vector product computed factor by
    factor (``s_j += x_uf · Yt[f, j]``, vectorised over items) in float64 from the float32
    factors: every score is the sequential sum Σ_f x_uf·y_jf, the same arithmetic as the
    Spark engine's scorer, so identical item vectors give identical scores and ties are
    exact. Items of the user's row ``ex_rows[t]`` in the exclusion CSR (``ex_items`` are
    item rows, −1 for items unknown to the model) are set to −inf and never selected.
    Selection keeps a sorted list of the best ``n`` (insertion; an item replaces the worst
    only with a strictly higher score, so among equal scores the lower item row — the
    lower movie id — wins).

    Returns (items int32 [m, n], scores float64 [m, n], counts int64 [m]); a user with
    fewer than ``n`` unseen items gets ``counts < n``.
    """
    m = urows.shape[0]
    k = item_factors_t.shape[0]
    n_items = item_factors_t.shape[1]
    out_items = np.full((m, n), -1, dtype=np.int32)
    out_scores = np.full((m, n), -np.inf, dtype=np.float64)
    counts = np.zeros(m, dtype=np.int64)
    n_blocks = (m + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK
    for blk in prange(n_blocks):
        s = np.empty(n_items, dtype=np.float64)
        lo = blk * _ROWS_PER_CHUNK
        hi = min(lo + _ROWS_PER_CHUNK, m)
        for t in range(lo, hi):
            u = urows[t]
            for j in range(n_items):
                s[j] = 0.0
            for f in range(k):
                xf = np.float64(user_factors[u, f])
                for j in range(n_items):
                    s[j] = s[j] + xf * item_factors_t[f, j]
            if biased:
                bu = user_bias[u]
                for j in range(n_items):
                    s[j] = s[j] + mean + bu + item_bias[j]
            r = ex_rows[t]
            if r >= 0:
                for p in range(ex_indptr[r], ex_indptr[r + 1]):
                    j = ex_items[p]
                    if j >= 0:
                        s[j] = -np.inf
            cnt = 0
            for j in range(n_items):
                v = s[j]
                if not v > -np.inf:  # excluded (or NaN)
                    continue
                if cnt < n:
                    pos = cnt
                    cnt += 1
                elif v > out_scores[t, n - 1]:
                    pos = n - 1
                else:
                    continue
                while pos > 0 and out_scores[t, pos - 1] < v:
                    out_scores[t, pos] = out_scores[t, pos - 1]
                    out_items[t, pos] = out_items[t, pos - 1]
                    pos -= 1
                out_scores[t, pos] = v
                out_items[t, pos] = j
            counts[t] = cnt
    return out_items, out_scores, counts


# --- public wrappers: argument checks and one launch at a time ------------------------------

_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(kernel: _F) -> _F:
    """``kernel`` run while holding the launch lock: at most one parallel kernel runs at a
    time in this process (the workqueue layer aborts on concurrent launches)."""

    @functools.wraps(kernel, updated=())
    def run(*args: Any) -> Any:
        with _LAUNCH_LOCK:
            return kernel(*args)

    return run  # type: ignore[return-value]


def _check(
    name: str,
    arr: Any,
    dtype: Any,
    ndim: int,
    *,
    shape: tuple[int | None, ...] | None = None,
    writable: bool = False,
) -> None:
    """Raise :class:`KernelArgumentError` unless ``arr`` is a C-contiguous ``ndim``-D numpy
    array of ``dtype`` (and of ``shape``, None entries free; writable if asked)."""
    if not isinstance(arr, np.ndarray):
        raise KernelArgumentError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise KernelArgumentError(f"{name} must be {np.dtype(dtype).name}, got {arr.dtype}")
    if arr.ndim != ndim:
        raise KernelArgumentError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise KernelArgumentError(
            f"{name} must be C-contiguous (a sliced or transposed view is not; "
            "pass np.ascontiguousarray(...))"
        )
    if writable and not arr.flags.writeable:
        raise KernelArgumentError(f"{name} must be writable")
    if shape is not None and any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
    ):
        expected = "×".join("*" if d is None else str(d) for d in shape)
        raise KernelArgumentError(f"{name} must have shape {expected}, got {arr.shape}")


def _check_csr(indptr: Any, indices: Any, values: Any, n_rows: int) -> None:
    """The CSR's arrays: indptr int64 (n_rows + 1, from 0 to nnz), indices int32 and values
    float32 of nnz entries. Index ranges are the builder's duty (:class:`LocalData` makes
    them valid by construction); they are not scanned here (O(nnz) per half-step)."""
    _check("indptr", indptr, np.int64, 1, shape=(n_rows + 1,))
    _check("indices", indices, np.int32, 1)
    _check("values", values, np.float32, 1, shape=(indices.shape[0],))
    if indptr[0] != 0 or indptr[-1] != indices.shape[0]:
        raise KernelArgumentError(
            f"indptr must run from 0 to the number of entries ({indices.shape[0]}), "
            f"got {indptr[0]} … {indptr[-1]}"
        )


def _check_bounds(bounds: Any, n_rows: int) -> None:
    _check("bounds", bounds, np.int64, 1)
    if bounds.shape[0] < 2 or bounds[0] != 0 or bounds[-1] != n_rows or np.any(np.diff(bounds) < 0):
        raise KernelArgumentError(
            f"task bounds must ascend from 0 to the number of rows ({n_rows}), got {bounds}"
        )


def n_threads() -> int:
    """numba's thread count (the default number of parallel tasks)."""
    import numba

    return int(numba.get_num_threads())


def csr_order(
    row_keys: np.ndarray, col_keys: np.ndarray, n_rows: int, n_cols: int, perm: np.ndarray
) -> np.ndarray:
    """Checked :func:`_csr_order`: order of the entries by (row key, column key), stably;
    fills ``perm`` and returns the row pointer (int64, n_rows + 1)."""
    _check("row_keys", row_keys, np.int32, 1)
    _check("col_keys", col_keys, np.int32, 1, shape=(row_keys.shape[0],))
    if perm.dtype not in (np.int32, np.int64):
        raise KernelArgumentError(f"perm must be int32 or int64, got {perm.dtype}")
    _check("perm", perm, perm.dtype, 1, shape=(row_keys.shape[0],), writable=True)
    out: np.ndarray = _csr_order(row_keys, col_keys, n_rows, n_cols, perm)
    return out


def gather_f32(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Checked :func:`_gather_f32`: ``values[perm]`` rounded to float32."""
    if values.dtype not in (np.float32, np.float64):
        raise KernelArgumentError(f"values must be float32 or float64, got {values.dtype}")
    _check("values", values, values.dtype, 1)
    if perm.dtype not in (np.int32, np.int64):
        raise KernelArgumentError(f"perm must be int32 or int64, got {perm.dtype}")
    _check("perm", perm, perm.dtype, 1)
    out: np.ndarray = _gather_f32(values, perm)
    return out


def transpose_csr(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_cols: int, from_csr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked :func:`_transpose_csr`: the CSC of a CSR (see there)."""
    _check_csr(indptr, indices, values, indptr.shape[0] - 1)
    if from_csr.dtype not in (np.int32, np.int64):
        raise KernelArgumentError(f"from_csr must be int32 or int64, got {from_csr.dtype}")
    _check("from_csr", from_csr, from_csr.dtype, 1, shape=(indices.shape[0],), writable=True)
    out: tuple[np.ndarray, np.ndarray, np.ndarray] = _transpose_csr(
        indptr, indices, values, n_cols, from_csr
    )
    return out


def solve_half(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    reg_param: float,
    nonnegative: bool,
    dst: np.ndarray,
    plan: P.HalfPlan | None = None,
) -> int:
    """One explicit ALS half-step (:func:`_solve_half`): fills ``dst``; returns the count of
    rows whose system was not positive definite (only possible with reg_param = 0).

    ``indptr`` int64, ``indices`` int32 and ``values`` float32 are the CSR of the rows being
    solved; ``src`` (float32, k columns) the fixed side's factors, one row per column index;
    ``dst`` (float32, rows × k) receives the solutions. ``plan`` is
    :func:`~._local_plan.plan_half` of the same ``indptr``, rank, reg_param and
    nonnegative (computed here when None; a fit plans once).

    Raises:
        KernelArgumentError: an array of the wrong dtype, layout or shape, or a plan that
            does not fit (task bounds, or a dual path with reg_param = 0 / nonnegative).
    """
    n_rows = indptr.shape[0] - 1 if isinstance(indptr, np.ndarray) else -1
    _check_csr(indptr, indices, values, n_rows)
    _check("src", src, np.float32, 2)
    k = src.shape[1]
    _check("dst", dst, np.float32, 2, shape=(n_rows, k), writable=True)
    if plan is None:
        plan = P.plan_half(indptr, k, reg_param, nonnegative, n_threads())
    _check_bounds(plan.bounds, n_rows)
    if plan.dual_max < 0 or plan.dual_small < 0 or plan.chunk < 1:
        raise KernelArgumentError(f"invalid plan limits: {plan}")
    if plan.dual_max > 0 and not (reg_param > 0 and not nonnegative):
        raise KernelArgumentError("the dual path needs reg_param > 0 and not nonnegative")
    ahead = P.wants_prefetch(k, src.nbytes)
    return int(
        _locked(_solve_half)(
            indptr,
            indices,
            values,
            src,
            float(reg_param),
            bool(nonnegative),
            dst,
            plan.bounds,
            int(plan.dual_max),
            int(plan.dual_small),
            int(plan.chunk),
            ahead,
        )
    )


def gram(src: np.ndarray) -> np.ndarray:
    """YᵀY (float64 k×k, :func:`_gram`) of the float32 factor rows ``src``.

    Raises:
        KernelArgumentError: ``src`` is not a C-contiguous 2-D float32 array.
    """
    _check("src", src, np.float32, 2)
    out: np.ndarray = _locked(_gram)(src)
    return out


def solve_half_implicit(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    src: np.ndarray,
    gram: np.ndarray,
    reg_param: float,
    alpha: float,
    nonnegative: bool,
    dst: np.ndarray,
    *,
    ials: bool = False,
    reg_extra: float = 0.0,
    reg_exponent: float = 1.0,
    solver: str = "cholesky",
    cg_steps: int = 3,
    bounds: np.ndarray | None = None,
) -> int:
    """One implicit half-step (Spark's Hu-Koren-Volinsky form, or iALS with ``ials``).

    Every row r of ``dst`` solves (gram + Σ_j c_j y_j y_jᵀ + λ_r·I) x = Σ_j t_j y_j (see
    :func:`_solve_half_implicit`): ``gram`` (float64 k×k) is YᵀY of all of ``src`` for
    implicit-als, α0·YᵀY for iALS; λ_r = reg_param·n_r, or reg_param·(n_r + reg_extra)^
    reg_exponent with ``ials``. ``solver="cholesky"`` solves exactly (NNLS with
    ``nonnegative``); ``solver="cg"`` takes ``cg_steps`` conjugate-gradient steps from the
    values ``dst`` holds on entry (the previous factors) and cannot be nonnegative.
    ``bounds`` (int64 task cuts from 0 to the rows) defaults to
    :func:`~._local_plan.plan_implicit`. Returns the count of rows whose system was not
    positive definite (always 0 for CG).

    Raises:
        KernelArgumentError: wrong dtype, layout or shape, an unknown solver, CG with
            ``nonnegative`` or fewer than 1 step, or bounds that do not cover the rows.
    """
    n_rows = indptr.shape[0] - 1 if isinstance(indptr, np.ndarray) else -1
    _check_csr(indptr, indices, values, n_rows)
    _check("src", src, np.float32, 2)
    k = src.shape[1]
    _check("gram", gram, np.float64, 2, shape=(k, k))
    _check("dst", dst, np.float32, 2, shape=(n_rows, k), writable=True)
    if solver not in P.IMPLICIT_SOLVERS:
        raise KernelArgumentError(
            f"unknown implicit solver {solver!r}; choose one of: {', '.join(P.IMPLICIT_SOLVERS)}"
        )
    cg = solver == "cg"
    if cg and nonnegative:
        raise KernelArgumentError("the CG solver has no nonnegative variant; use cholesky")
    if cg and cg_steps < 1:
        raise KernelArgumentError(f"cg_steps must be at least 1, got {cg_steps}")
    if bounds is None:
        bounds = P.plan_implicit(indptr, k, cg_steps if cg else 0, n_threads())
    _check_bounds(bounds, n_rows)
    reg, a, flag, rx, rexp = (
        float(reg_param),
        float(alpha),
        bool(ials),
        float(reg_extra),
        float(reg_exponent),
    )
    if cg:
        gram32 = np.ascontiguousarray(gram, dtype=np.float32)
        _locked(_solve_half_cg)(
            indptr, indices, values, src, gram32, reg, a, dst, bounds, flag, rx, rexp,
            int(cg_steps), P.cg_buffer_rows(k),
        )  # fmt: skip
        return 0
    nonneg = bool(nonnegative)
    return int(
        _locked(_solve_half_implicit)(
            indptr, indices, values, src, gram, reg, a, nonneg, dst, bounds, flag, rx, rexp
        )
    )


def implicit_objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    alpha: float,
    *,
    ials: bool = False,
    row_extra: float = 0.0,
    col_extra: float = 0.0,
    reg_exponent: float = 1.0,
) -> tuple[float, float, float]:
    """:func:`_implicit_objective_terms` of a CSR and float32 factors of both sides.

    Raises:
        KernelArgumentError: wrong dtype, layout or shape.
    """
    _check("row_factors", row_factors, np.float32, 2)
    _check_csr(indptr, indices, values, row_factors.shape[0])
    _check("col_factors", col_factors, np.float32, 2, shape=(None, row_factors.shape[1]))
    corr, row_pen, col_pen = _locked(_implicit_objective_terms)(
        indptr,
        indices,
        values,
        row_factors,
        col_factors,
        float(alpha),
        bool(ials),
        float(row_extra),
        float(col_extra),
        float(reg_exponent),
    )
    return float(corr), float(row_pen), float(col_pen)


def objective_terms(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    reg_param: float,
) -> tuple[float, float]:
    """:func:`_objective_terms`: (squared error, penalty) in rating units².

    Raises:
        KernelArgumentError: wrong dtype, layout or shape.
    """
    _check("row_factors", row_factors, np.float32, 2)
    _check_csr(indptr, indices, values, row_factors.shape[0])
    _check("col_factors", col_factors, np.float32, 2, shape=(None, row_factors.shape[1]))
    sse, penalty = _locked(_objective_terms)(
        indptr, indices, values, row_factors, col_factors, float(reg_param)
    )
    return float(sse), float(penalty)


def predict_pairs(
    uidx: np.ndarray,
    iidx: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
) -> np.ndarray:
    """:func:`_predict_pairs`: float64 scores of (user row, item row) pairs, NaN for −1.

    Raises:
        KernelArgumentError: wrong dtype, layout or shape.
    """
    _check("uidx", uidx, np.int64, 1)
    _check("iidx", iidx, np.int64, 1, shape=(uidx.shape[0],))
    _check("user_factors", user_factors, np.float32, 2)
    k = user_factors.shape[1]
    _check("item_factors", item_factors, np.float32, 2, shape=(None, k))
    _check("user_bias", user_bias, np.float64, 1, shape=(user_factors.shape[0],))
    _check("item_bias", item_bias, np.float64, 1, shape=(item_factors.shape[0],))
    out: np.ndarray = _locked(_predict_pairs)(
        uidx, iidx, user_factors, item_factors, float(mean), user_bias, item_bias, bool(biased)
    )
    return out


def top_n(
    urows: np.ndarray,
    user_factors: np.ndarray,
    item_factors_t: np.ndarray,
    mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    biased: bool,
    ex_rows: np.ndarray,
    ex_indptr: np.ndarray,
    ex_items: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_top_n`: (item rows, scores, counts) per user row.

    Raises:
        KernelArgumentError: wrong dtype, layout or shape, ``n`` < 1, or a user row or
            exclusion row out of range.
    """
    _check("urows", urows, np.int64, 1)
    _check("user_factors", user_factors, np.float32, 2)
    k = user_factors.shape[1]
    _check("item_factors_t", item_factors_t, np.float64, 2, shape=(k, None))
    _check("user_bias", user_bias, np.float64, 1, shape=(user_factors.shape[0],))
    _check("item_bias", item_bias, np.float64, 1, shape=(item_factors_t.shape[1],))
    _check("ex_rows", ex_rows, np.int64, 1, shape=(urows.shape[0],))
    _check("ex_indptr", ex_indptr, np.int64, 1)
    _check("ex_items", ex_items, np.int32, 1)
    if n < 1:
        raise KernelArgumentError(f"n must be at least 1, got {n}")
    if len(urows) and (urows.min() < 0 or urows.max() >= user_factors.shape[0]):
        raise KernelArgumentError("urows must be rows of user_factors")
    if len(ex_rows) and ex_rows.max() >= ex_indptr.shape[0] - 1:
        raise KernelArgumentError("ex_rows must be rows of the exclusion CSR (or -1)")
    if ex_indptr.shape[0] < 1 or ex_indptr[-1] != ex_items.shape[0]:
        raise KernelArgumentError("ex_indptr must end at the number of excluded entries")
    items, scores, counts = _locked(_top_n)(
        urows,
        user_factors,
        item_factors_t,
        float(mean),
        user_bias,
        item_bias,
        bool(biased),
        ex_rows,
        ex_indptr,
        ex_items,
        int(n),
    )
    return items, scores, counts
