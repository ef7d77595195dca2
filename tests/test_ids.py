"""Id lookup between files and models: text comparison, unknown ids never collide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.ids import INT32_MAX, fresh_ids, lookup_ids
from movierec.model_io import align_test_ids
from movierec.schema import ITEM, RATING, USER


def test_lookup_with_and_without_originals() -> None:
    known = np.array([3, 7, 2147483647])
    assert lookup_ids(np.array(["7", "8", "x", "7.5", "2147483647"]), None, known).tolist() == [
        7, -1, -1, -1, 2147483647,
    ]  # fmt: skip
    originals = np.array(["ann", "bob", "cid"], dtype=object)
    # "ann" is dense 0, but this model has factors for dense 2 only, so ann is unknown too.
    found = lookup_ids(np.array(["cid", "dan", "ann"]), originals, np.array([2]))
    assert found.tolist() == [2, -1, -1]


def test_fresh_ids_avoid_known_ids() -> None:
    assert fresh_ids(np.array([0, 1, 0]), np.array([4, 9])).tolist() == [10, 11, 10]
    # Known ids reach the top of the int32 range: fresh ids go below the smallest one.
    out = fresh_ids(np.array([0, 1]), np.array([5, INT32_MAX]))
    assert out.tolist() == [4, 3]


def test_align_never_collides_with_a_real_user() -> None:
    """A model with real user 2147483647; a test file whose string id forced a remapping."""

    class Loaded:
        ratings = pd.DataFrame({USER: [0, 1], ITEM: [0, 0], RATING: [4.0, 3.0]})
        user_ids = np.array(["2147483647", "alice"], dtype=object)
        item_ids = None

    class Saved:
        user_ids = None
        item_ids = None

        class factors:  # mimics SavedModel.factors
            user_ids = np.array([1, 2147483647])
            item_ids = np.array([0])

    out = align_test_ids(Loaded(), Saved())  # type: ignore[arg-type]
    users = out[USER].tolist()
    assert users[0] == 2147483647  # the real user keeps its id
    assert users[1] not in (1, 2147483647)  # alice is new: cold start, no collision
