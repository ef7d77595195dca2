"""The examples in the docstrings of the notebook API run and print what they say."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pandas as pd
import pytest

MODULES = (
    "movierec.recommender",
    "movierec.recommender_items",
    "movierec.api_load",
    "movierec.api_results",
    "movierec.data.frames",
    "movierec.data.anyinput",
    "movierec.data.movies",
    "movierec.engines",
    "movierec.engines.values",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path) -> None:
    import movierec

    tiny = pd.DataFrame(
        {"userId": [1, 1, 2, 2, 3], "movieId": [10, 20, 10, 30, 20],
         "rating": [4.0, 3.0, 5.0, 2.0, 4.5]}
    )  # fmt: skip
    rec = movierec.Recommender("biased-als", rank=2, max_iter=3).fit(tiny)
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        extraglobs={"rec": rec, "tmp": tmp_path, "pd": pd, "movierec": movierec},
        optionflags=doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0
    assert result.attempted > 0
