"""An ``ease`` model's item-item weights B for the service (numpy and the standard library).

:func:`read_ease` reads the ``engine/`` part of an ``ease`` model folder (format
``movierec-ease``, see :mod:`movierec.model_format`): ``ease.json`` (λ, the interaction
threshold, the blend weight), ``item_ids.npy`` (must be the model's movies) and B — dense
(items × items float32) or sparsified to the top-k weights of each row (CSR arrays).

**Dense B is memory-mapped, not read into the heap.** The file is streamed once into an
anonymous memory file (``memfd_create``) while its SHA-256 is computed and checked against
the folder's manifest; the memory file is then sealed (no write, no shrink, no grow) and
mapped read-only. So what is served is exactly what was saved and verified, a file changed
or truncated in the model folder while it is served cannot change or crash (SIGBUS) the
server (the mapping is of the sealed copy, not of the folder), and the pages are shared
(MAP_SHARED) by every worker process forked after the load instead of copied per worker.
Where ``memfd_create`` is missing (not Linux) B is read into private memory instead
(:meth:`movierec.service.model_files.ModelFiles.npy`). Sparse B is small and read whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import mmap
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from movierec.errors import ModelError
from movierec.model_format import (
    EASE_DENSE,
    EASE_FORMAT,
    EASE_FORMAT_VERSION,
    EASE_JSON,
    EASE_TOPK,
    ENGINE_DIR,
)
from movierec.service.model_files import ModelFiles

_CHUNK = 1 << 22


@dataclass(frozen=True, eq=False)
class EaseWeights:
    """B and what scoring needs of ``ease.json`` (arrays read-only)."""

    lam: float
    threshold: float | None
    """Ratings >= this are a user's interactions (None: every rating)."""
    blend: float
    """Weight w of the implicit-als partner: (1 − w)·z(EASE) + w·z(partner); 0 = plain EASE."""
    dense: np.ndarray | None
    """(items, items) float32, row j = the weights of movie row j's interaction."""
    indptr: np.ndarray | None
    """Top-k CSR by source row (``dense`` None): int64 offsets, int32 columns, float32."""
    indices: np.ndarray | None
    values: np.ndarray | None
    topk: int | None
    mapped: bool
    """Whether dense B is a sealed memory mapping (module docstring)."""

    @property
    def n_bytes(self) -> int:
        arrays = (
            (self.dense,) if self.dense is not None else (self.indptr, self.indices, self.values)
        )
        return sum(int(a.nbytes) for a in arrays if a is not None)


def read_ease(files: ModelFiles, item_ids: np.ndarray) -> EaseWeights:
    """The ``engine/`` weights of an ``ease`` model folder whose movies are ``item_ids``.

    Raises:
        ModelError: a missing, damaged or changed file, another format, movies that differ
            from the model's, or weights of the wrong shape or with NaN/inf.
    """
    rel = f"{ENGINE_DIR}/{EASE_JSON}"
    try:
        meta = json.loads(files.read(rel))
    except ValueError as exc:
        raise ModelError(f"{files.folder / rel}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != EASE_FORMAT:
        raise ModelError(f"{files.folder / rel}: not a movierec EASE model")
    if meta.get("format_version") != EASE_FORMAT_VERSION:
        raise ModelError(
            f"{files.folder / rel}: EASE format {meta.get('format_version')!r} is not supported"
        )
    lam, threshold, blend = meta.get("lambda"), meta.get("threshold"), meta.get("blend", 0.0)
    if not _number(lam) or not (threshold is None or _number(threshold)) or not _number(blend):
        raise ModelError(f"{files.folder / rel}: invalid lambda, threshold or blend")
    lam, blend = float(lam), float(blend)  # type: ignore[arg-type]  # checked above
    if not 0.0 <= blend <= 1.0:
        raise ModelError(f"{files.folder / rel}: blend {blend} is not in [0, 1]")
    ids = files.npy(f"{ENGINE_DIR}/item_ids.npy")
    if not np.array_equal(np.sort(ids.astype(np.int64)), item_ids):
        raise ModelError(
            f"{files.folder / ENGINE_DIR}: the EASE weights are of other movies than "
            "factors.npz (the folder mixes files of different models)"
        )
    n = len(item_ids)
    if meta.get("weights") == "topk":
        ip, ix, vals = (files.npy(f"{ENGINE_DIR}/{name}") for name in EASE_TOPK)
        if (
            ip.shape != (n + 1,)
            or ix.ndim != 1
            or vals.shape != ix.shape
            or int(ip[0]) != 0
            or int(ip[-1]) != len(ix)
            or (np.diff(ip) < 0).any()
            or (len(ix) and (int(ix.min()) < 0 or int(ix.max()) >= n))
            or not np.isfinite(vals).all()
        ):
            raise ModelError(f"{files.folder / ENGINE_DIR}: damaged top-k EASE weights")
        topk = int(np.diff(ip).max(initial=0))
        return EaseWeights(
            lam,
            None if threshold is None else float(threshold),
            blend,
            None,
            ip.astype(np.int64),
            ix.astype(np.int64),
            vals.astype(np.float32),
            topk,
            False,
        )
    dense, mapped = mapped_npy(files, f"{ENGINE_DIR}/{EASE_DENSE}")
    if dense.shape != (n, n) or dense.dtype != np.float32 or not _finite(dense):
        raise ModelError(
            f"{files.folder / ENGINE_DIR / EASE_DENSE}: weights of shape {dense.shape} "
            f"({dense.dtype}) or with NaN/inf; expected ({n}, {n}) float32"
        )
    return EaseWeights(
        lam,
        None if threshold is None else float(threshold),
        blend,
        dense,
        None,
        None,
        None,
        None,
        mapped,
    )


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _finite(a: np.ndarray) -> bool:
    """Whether every value is finite, a block of rows at a time (no items² temporary)."""
    step = max(1, (1 << 24) // max(1, a.shape[1] if a.ndim == 2 else 1))
    return all(bool(np.isfinite(a[i : i + step]).all()) for i in range(0, len(a), step))


def mapped_npy(files: ModelFiles, rel: str) -> tuple[np.ndarray, bool]:
    """(array, mapped) of the ``.npy`` file ``rel``: a read-only view of a sealed memory
    file holding the verified bytes (module docstring), or — without ``memfd_create`` —
    the array read into private memory (mapped False).

    Raises:
        ModelError: unreadable, changed since it was saved, or not a valid ``.npy`` file.
    """
    if not hasattr(os, "memfd_create"):
        return files.npy(rel), False
    import fcntl

    file = files.folder / rel
    fd = os.memfd_create("movierec-ease-weights", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        digest = hashlib.sha256()
        size = 0
        try:
            with open(file, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                    size += len(chunk)
        except OSError as exc:
            raise ModelError(f"{file}: unreadable ({exc.strerror or exc})") from exc
        files.bytes_read += size
        if files.manifest is not None:
            files.manifest.verify(rel, digest.hexdigest(), size)
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        if size == 0:
            raise ModelError(f"{file}: empty file, not a numpy .npy file")
        buffer = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    return _npy_view(buffer, size, file), True


def _npy_view(buffer: mmap.mmap, size: int, file: Any) -> np.ndarray:
    """The array of the ``.npy`` bytes in ``buffer`` as a read-only view (no copy)."""
    fmt = np.lib.format
    stream = io.BytesIO(buffer[: min(size, 1 << 16)])  # the header only
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
    except Exception as exc:
        raise ModelError(f"{file}: not a numpy .npy file ({exc})") from exc
    if dtype.hasobject:
        raise ModelError(f"{file}: an object array (pickled data) is not allowed")
    count = int(np.prod(shape, dtype=np.int64))
    offset = stream.tell()
    if size - offset != count * dtype.itemsize:
        raise ModelError(
            f"{file}: {size - offset} data bytes where its header says "
            f"{count * dtype.itemsize} (shape {tuple(shape)}, {dtype}): truncated or damaged"
        )
    arr = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C")
