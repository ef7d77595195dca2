"""Canonical column names, defined once.

Every reader renames its input to these names when it loads data; every other
module refers to the constants below rather than to string literals.
"""

from __future__ import annotations

USER = "user_id"
"""Dense 32-bit integer user id (the original id when it already fits, else a mapped index)."""
ITEM = "movie_id"
"""Dense 32-bit integer movie id (the original id when it already fits, else a mapped index)."""
RATING = "rating"
"""Explicit rating, float, on the data's declared scale (e.g. 0.5-5.0 for MovieLens latest)."""
TIMESTAMP = "timestamp"
"""Seconds since the Unix epoch (int64); absent when the source has no time column."""
PREDICTION = "prediction"
"""Predicted rating, same units as RATING."""
SCORE = "score"
"""Ranking score of a recommended movie (higher is better; for ALS, the predicted rating)."""
RANK = "rank"
"""1-based position of a recommendation in a user's list."""
U_BIAS = "user_bias"
"""A user's bias b_u in ``biased-als`` (rating units)."""
I_BIAS = "item_bias"
"""A movie's bias b_i in ``biased-als`` (rating units)."""
TITLE = "title"
GENRES = "genres"
LINE = "line"
"""1-based line number in the source file (rejects only)."""
REASON = "reason"
"""Why a row was rejected (rejects only)."""
RAW = "raw"
"""The rejected line's original text (rejects only)."""

RATING_COLUMNS: tuple[str, ...] = (USER, ITEM, RATING, TIMESTAMP)
"""The canonical ratings schema, in order. TIMESTAMP may be missing."""
