"""jsonio: the one JSON encoder of result files and --json output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from movierec.jsonio import dumps, json_default, write_json


def test_numpy_scalars_and_paths_are_encoded(tmp_path: Path) -> None:
    obj = {"n": np.int64(3), "x": np.float32(0.5), "ok": np.bool_(True), "p": Path("/a/b")}
    text = dumps(obj)
    assert json.loads(text) == {"n": 3, "x": 0.5, "ok": True, "p": "/a/b"}
    assert text.startswith('{\n  "n": 3')  # two-space indentation
    write_json(tmp_path / "x.json", obj)
    assert (tmp_path / "x.json").read_text(encoding="utf-8") == text + "\n"
    with pytest.raises(TypeError, match="not JSON serialisable: ndarray"):
        json_default(np.zeros(2))
