"""Read a model folder's files into private memory, each checked against the manifest.

Every array the service serves is parsed from bytes read into this process's own memory
(never ``mmap``-ed from the folder), and those same bytes are hashed and compared with the
folder's checksum manifest (:mod:`movierec.model_format`). So a file overwritten, truncated
or replaced while the model is served cannot change or crash (SIGBUS) the running server,
and what is served is exactly what was saved. Folders written before manifests are read
the same way, unverified.

``.npy`` files are parsed here (header by :mod:`numpy.lib.format`, data by
``np.frombuffer`` over the bytes read: one copy, read-only arrays); a size that does not
match the header (a truncated or padded array) is refused.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import ModelError
from movierec.model_format import MANIFEST, Manifest

log = logging.getLogger(__name__)


class ModelFiles:
    """The files of one model folder, read whole and verified (module docstring).

    ``manifest`` None: a folder without a manifest (read unverified).
    """

    def __init__(self, folder: Path, manifest: Manifest | None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.bytes_read = 0

    def exists(self, rel: str) -> bool:
        """Whether the folder has ``rel`` (a file or folder).

        Raises:
            ModelError: with a manifest, ``rel`` is on disk but not listed (a file from
                another model), or listed but missing.
        """
        on_disk = (self.folder / rel).exists()
        if self.manifest is None:
            return on_disk
        listed = rel in self.manifest.files or any(
            name.startswith(rel + "/") for name in self.manifest.files
        )
        if on_disk and not listed:
            self.manifest.entry(rel)  # raises: not in the manifest
        if listed and not on_disk:
            raise ModelError(f"{self.folder / rel}: listed in the model's {MANIFEST} but missing")
        return on_disk

    def read(self, rel: str) -> bytes:
        """The whole content of the file ``rel``, verified against the manifest.

        Raises:
            ModelError: unreadable, not listed, or different from what was saved.
        """
        file = self.folder / rel
        try:
            with open(file, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ModelError(f"{file}: unreadable ({exc.strerror or exc})") from exc
        self.bytes_read += len(data)
        if self.manifest is not None:
            self.manifest.verify(rel, hashlib.sha256(data).hexdigest(), len(data))
        return data

    def npy(self, rel: str) -> np.ndarray:
        """A ``.npy`` file as a read-only array over private memory (no pickles).

        Raises:
            ModelError: not a valid ``.npy`` file, an object array, or a size that does not
                match its header (truncated or padded).
        """
        return parse_npy(self.read(rel), self.folder / rel)

    def npz(self, rel: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The arrays ``keys`` of a ``.npz`` file (no pickles).

        Raises:
            ModelError: not a valid archive, or an array is missing.
        """
        file = self.folder / rel
        try:
            with np.load(io.BytesIO(self.read(rel)), allow_pickle=False) as z:
                missing = [k for k in keys if k not in z.files]
                if missing:
                    raise ModelError(f"{file}: missing arrays {', '.join(missing)}")
                return {k: z[k] for k in keys}
        except ModelError:
            raise
        except Exception as exc:  # zipfile, zlib and numpy errors alike mean a damaged file
            raise ModelError(
                f"{file}: model folder is incomplete or damaged ({type(exc).__name__}: {exc})"
            ) from exc

    def parquet(self, rel: str, columns: list[str] | None = None) -> Any:
        """A Parquet file, or a folder of Parquet part files (Spark's layout), as one
        ``pyarrow.Table`` read from private memory.

        Raises:
            ModelError: unreadable or damaged files, or part files of different schemas.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.folder / rel
        if path.is_dir():
            parts = sorted(  # name order: Spark's part-00000, part-00001, …
                p.relative_to(self.folder).as_posix()
                for p in path.iterdir()
                if p.is_file() and p.suffix == ".parquet" and not p.name.startswith((".", "_"))
            )
            if not parts:
                raise ModelError(f"{path}: a folder without Parquet part files")
        else:
            parts = [rel]
        tables = []
        try:
            for part in parts:
                buffer = pa.BufferReader(self.read(part))
                tables.append(pq.ParquetFile(buffer).read(columns=columns))
            return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"{path}: model folder is incomplete or damaged ({type(exc).__name__}: {exc})"
            ) from exc


def parse_npy(data: bytes, file: Path) -> np.ndarray:
    """The array stored in the ``.npy`` bytes ``data`` (a read-only view of them).

    Raises:
        ModelError: see :meth:`ModelFiles.npy`.
    """
    fmt = np.lib.format
    stream = io.BytesIO(data)
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
    count = 1
    for n in shape:
        count *= int(n)
    offset = stream.tell()
    expected = count * dtype.itemsize
    if len(data) - offset != expected:
        raise ModelError(
            f"{file}: {len(data) - offset} data bytes where its header says {expected} "
            f"(shape {tuple(shape)}, {dtype}): truncated or damaged"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C")
