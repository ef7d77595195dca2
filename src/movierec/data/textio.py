"""Bytes to records: BOM, line breaks, encoding, binary check and sampling of text files.

Shared by the ratings reader (:mod:`movierec.data.textscan`, :mod:`movierec.data.detect`)
and the movies reader (:mod:`movierec.data.movies`), so both see the same records:

* **Line breaks** (rule R1 of :mod:`movierec.data.validate`): LF, CRLF and a lone CR each
  end a record, in any mix. :func:`normalize_breaks` turns every one into LF, and
  :func:`iter_blocks` yields blocks of whole records with their first line number.
* **Encoding** (when ``data.encoding`` is not set): UTF-8 when the text is valid UTF-8
  (``utf-8-sig`` when it starts with a UTF-8 BOM); otherwise Windows-1252 (``cp1252``,
  a superset of the printable Latin-1 range that also has the curly quotes, dashes and euro
  sign of Windows text), or Latin-1 when a byte undefined in cp1252 occurs. ASCII is valid
  in all three, so the choice is made at the first non-ASCII block (:class:`EncodingGuess`)
  and a file whose first non-ASCII block is valid UTF-8 but a later one is not is refused
  as a mix of encodings (so is a block whose first invalid UTF-8 byte follows valid non-ASCII
  UTF-8). The encoding used is named in the load report.
* **Binary data**: images, archives, gzip, Parquet (by their magic bytes), UTF-16/32 text
  and anything with a large share of control bytes is refused by :func:`check_not_binary`;
  a stray NUL in a text file is not binary: its row is rejected (rule C2).
* **Sampling**: :func:`read_sample` returns the first records of a file and records from
  windows spread over the rest, so layout detection is not misled by bad rows at the top.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from movierec.errors import DataError

BOM = codecs.BOM_UTF8
BLOCK_SIZE = 16 * 1024 * 1024
SAMPLE_BYTES = 64 * 1024
"""Bytes read from the start of a file for layout detection."""
HEAD_LINES = 400
"""Most records sampled from the start of a file: the first :data:`HEAD_FIRST`, then records
spread evenly over the rest of its first :data:`SAMPLE_BYTES`."""
HEAD_FIRST = 100
WINDOWS = 8
"""Windows sampled from the rest of a file larger than :data:`SAMPLE_BYTES`."""
WINDOW_BYTES = 16 * 1024
WINDOW_LINES = 40

AUTO_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1")
"""The encodings automatic detection can choose (see the module docstring)."""
_LATIN1 = frozenset({"latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1", "8859"})
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_NON_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
BINARY_CONTROL_SHARE = 0.02
"""A file whose first 8 KiB hold more than this share of control bytes is binary."""

_MAGIC = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive; unpack it first (or use `movierec datasets fetch`)"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"BZh", "bzip2-compressed; decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first"),
    (b"(\xb5/\xfd", "zstd-compressed; decompress it first"),
    (b"PAR1", "a Parquet file; use format 'parquet'"),
    (b"\xff\xfe\x00\x00", "UTF-32 text; convert it to UTF-8"),
    (b"\x00\x00\xfe\xff", "UTF-32 text; convert it to UTF-8"),
    (b"\xff\xfe", "UTF-16 text; convert it to UTF-8"),
    (b"\xfe\xff", "UTF-16 text; convert it to UTF-8"),
)


def is_latin1(encoding: str) -> bool:
    """True for the names of Latin-1, which decodes every byte."""
    return encoding.lower().replace("_", "-") in _LATIN1


def normalize_breaks(data: bytes) -> bytes:
    """``data`` with every CRLF and lone CR turned into LF (rule R1)."""
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def has_control_bytes(data: bytes) -> bool:
    """True when ``data`` holds a byte of :data:`~movierec.data.validate.CONTROL_CHARS`."""
    return bool(data.translate(None, _NON_CONTROL))


def iter_blocks(path: Path, block_size: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, bytes)`` blocks of whole records of ``path``.

    The BOM is removed and line breaks are normalised to LF (:func:`normalize_breaks`);
    a CR at the end of a read is held back, as it may be the first half of a CRLF.
    ``block_size`` defaults to :data:`BLOCK_SIZE` (read at call time).
    """
    block_size = block_size or BLOCK_SIZE
    with open(path, "rb") as fh:
        carry = b""
        line_no = 1
        first = True
        while True:
            data = fh.read(block_size)
            if first:
                first = False
                if data.startswith(BOM):
                    data = data[len(BOM) :]
            if not data:
                if carry:
                    yield line_no, normalize_breaks(carry)
                return
            buf = carry + data
            end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
            cut = max(buf.rfind(b"\n", 0, end), buf.rfind(b"\r", 0, end))
            if cut < 0:
                carry = buf
                continue
            block, carry = normalize_breaks(buf[: cut + 1]), buf[cut + 1 :]
            yield line_no, block
            line_no += block.count(b"\n")


def read_head(path: Path, nbytes: int = SAMPLE_BYTES) -> tuple[bytes, bool]:
    """Return the first ``nbytes`` of ``path`` (BOM removed) and whether that is the whole file."""
    with open(path, "rb") as fh:
        head = fh.read(nbytes + 1)
    whole = len(head) <= nbytes
    head = head[:nbytes]
    if head.startswith(BOM):
        head = head[len(BOM) :]
    return head, whole


def has_bom(path: Path) -> bool:
    """True when ``path`` starts with the UTF-8 byte order mark."""
    with open(path, "rb") as fh:
        return fh.read(len(BOM)) == BOM


def check_not_binary(path: Path, what: str = "ratings") -> None:
    """Raise DataError when ``path`` looks like binary data (or UTF-16/32) rather than text.

    Raises:
        DataError: the file starts with the magic bytes of an image, archive, compressed or
            Parquet file, with a UTF-16/32 byte order mark, or its first 8 KiB hold more than
            :data:`BINARY_CONTROL_SHARE` control bytes (NUL included).
    """
    with open(path, "rb") as fh:
        sample = fh.read(8192)
    for magic, kind in _MAGIC:
        if sample.startswith(magic):
            raise DataError(f"not a text {what} file: it is {kind}", path=str(path))
    controls = len(sample.translate(None, _NON_CONTROL))
    if controls > 2 and controls > BINARY_CONTROL_SHARE * len(sample):
        utf16 = sample.count(b"\x00") * 3 > len(sample)
        hint = " (it looks like UTF-16 or UTF-32 text; convert it to UTF-8)" if utf16 else ""
        raise DataError(
            f"not a text {what} file: binary data{hint}; first bytes: {sample[:16]!r}",
            path=str(path),
        )


def decode_error(
    exc: UnicodeDecodeError, data: bytes, first_line: int, path: Path, encoding: str, hint: str
) -> DataError:
    """Build the DataError for undecodable bytes, with the line where they occur."""
    line = first_line + data.count(b"\n", 0, exc.start)
    bad = data[exc.start : exc.start + 4]
    return DataError(
        f"not valid {encoding} text (bytes {bad!r}); {hint}", path=str(path), line=line
    )


@dataclass
class EncodingGuess:
    """Decide, block by block, the encoding of a text file (see the module docstring).

    ``declared`` (``data.encoding``) is used as given, strictly; None detects. Feed every
    block in order to :meth:`feed`, which returns the encoding to decode that block with;
    :attr:`encoding` is the file's encoding as far as it has been read.
    """

    path: Path
    declared: str | None = None
    bom: bool = False
    encoding: str = field(init=False)
    _non_ascii: bool = field(default=False, init=False)
    _c1: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.declared:
            self.encoding = self.declared
        else:
            self.encoding = "utf-8-sig" if self.bom else "utf-8"

    def feed(self, block: bytes, first_line: int) -> str:
        """The encoding to decode ``block`` (whole records from ``first_line``) with.

        Raises:
            DataError: ``block`` is not valid text in the declared encoding, or (detecting)
                not valid UTF-8 after earlier valid non-ASCII UTF-8 (or a BOM), or holds a
                byte undefined in cp1252 after earlier cp1252-only characters.
        """
        if block.isascii() or is_latin1(self.encoding):
            return self.encoding
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        try:
            block.decode(codec)
        except UnicodeDecodeError as exc:
            if self.declared:
                raise decode_error(
                    exc, block, first_line, self.path, self.declared, "set data.encoding"
                ) from exc
            mixed = self._non_ascii or self.bom or not block[: exc.start].isascii()
            if codec == "utf-8" and mixed:
                raise decode_error(
                    exc,
                    block,
                    first_line,
                    self.path,
                    "UTF-8",
                    "earlier lines are UTF-8, so the file mixes encodings; "
                    "convert it, or set data.encoding",
                ) from exc
            if codec == "utf-8" and _decodes(block, "cp1252"):
                self.encoding = "cp1252"
            elif codec == "cp1252" and self._c1:
                raise decode_error(
                    exc,
                    block,
                    first_line,
                    self.path,
                    "cp1252",
                    "earlier lines use cp1252 characters, so the file mixes encodings; "
                    "set data.encoding",
                ) from exc
            else:
                self.encoding = "latin-1"
        self._non_ascii = True
        if self.encoding == "cp1252" and re.search(rb"[\x80-\x9f]", block):
            self._c1 = True
        return self.encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def decode_all(data: bytes, path: Path, declared: str | None = None) -> tuple[str, str]:
    """Decode a whole (small) file: returns ``(text with LF line breaks, encoding used)``.

    Raises:
        DataError: the text is not valid in the declared encoding, or mixes encodings.
    """
    bom = data.startswith(BOM)
    if bom:
        data = data[len(BOM) :]
    data = normalize_breaks(data)
    guess = EncodingGuess(path, declared, bom)
    enc = guess.feed(data, 1)
    codec = "utf-8" if enc == "utf-8-sig" else enc
    return data.decode(codec), enc


@dataclass
class Sample:
    """Records sampled from a text file for layout detection.

    ``head``: the first non-blank records with their 1-based line numbers (empty when the
    first record is longer than the sample); ``body``: non-blank records from windows spread
    over the rest of the file; ``whole``: the head is the whole file.
    """

    head: list[tuple[int, str]]
    body: list[str]
    whole: bool
    start: str = ""
    """The first characters of the file, for messages."""


def _records(data: bytes, encoding: str) -> list[str]:
    return data.decode("utf-8" if encoding == "utf-8-sig" else encoding, "replace").split("\n")


def window_starts(size: int) -> list[int]:
    """Byte offsets of the :data:`WINDOWS` windows :func:`read_sample` reads from a file of
    ``size`` bytes larger than :data:`SAMPLE_BYTES`."""
    return [
        max(SAMPLE_BYTES + (size - SAMPLE_BYTES - WINDOW_BYTES) * k // WINDOWS, SAMPLE_BYTES)
        for k in range(1, WINDOWS + 1)
    ]


def read_sample(path: Path, encoding: str) -> Sample:
    """Sample ``path``: up to :data:`HEAD_LINES` records of its first :data:`SAMPLE_BYTES`
    (the first :data:`HEAD_FIRST`, then spread evenly), plus up to :data:`WINDOW_LINES`
    records from each of :data:`WINDOWS` windows spread over the rest (undecodable bytes
    replaced)."""
    head, whole = read_head(path)
    windows: list[bytes] = []
    if not whole:
        with open(path, "rb") as fh:
            for start in window_starts(os.path.getsize(path)):
                fh.seek(start)
                windows.append(fh.read(WINDOW_BYTES))
    return sample_of(head, whole, encoding, windows)


def sample_of(head: bytes, whole: bool, encoding: str, windows: list[bytes]) -> Sample:
    """The :class:`Sample` of a file from its first bytes (:func:`read_head`: ``head``,
    ``whole``) and the raw bytes of its windows (at :func:`window_starts`, each at most
    :data:`WINDOW_BYTES`), decoded in ``encoding`` with undecodable bytes replaced."""
    first_chars = _records(head[:64], encoding)[0]
    head = normalize_breaks(head)
    if not whole:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else b""
    out = [(i, line) for i, line in enumerate(_records(head, encoding), start=1) if line.strip()]
    if len(out) > HEAD_LINES:
        rest = out[HEAD_FIRST:]
        step = len(rest) / (HEAD_LINES - HEAD_FIRST)
        out = out[:HEAD_FIRST] + [rest[int(k * step)] for k in range(HEAD_LINES - HEAD_FIRST)]
    body: list[str] = []
    if not whole:
        for window in windows:
            data = normalize_breaks(window)
            first, last = data.find(b"\n"), data.rfind(b"\n")
            if first < 0 or last <= first:
                continue
            lines = [t for t in _records(data[first + 1 : last], encoding) if t.strip()]
            body.extend(lines[:WINDOW_LINES])
    return Sample(out, body, whole, first_chars)
