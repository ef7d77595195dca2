"""JSON output of results: numpy scalars and paths serialised, two-space indentation.

The one encoder of ``summary.json``, ``eda.json``, ``tuning.json`` … and of the CLI's
``--json`` output, so a file and the printed JSON of the same result are the same text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def json_default(obj: Any) -> Any:
    """``json.dumps``'s ``default``: a numpy scalar as its Python value, a Path as a string.

    Raises:
        TypeError: any other type (as ``json.dumps`` expects).
    """
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """``obj`` as indented JSON text (no trailing newline)."""
    return json.dumps(obj, indent=2, default=json_default)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` as indented JSON with a trailing newline (UTF-8).

    Not atomic on its own: call it inside an atomic output folder (:mod:`movierec.atomic`).
    """
    path.write_text(dumps(obj) + "\n", encoding="utf-8")
