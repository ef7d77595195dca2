"""Evaluation metrics for rating prediction and top-k recommendation (pure pandas/numpy).

Three readings of "precision and recall" are reported side by side, because the
literature (and course material) uses all three and they give very different numbers:

1. :func:`pairwise_prf` -- every test (user, movie) pair is a binary classification
   ("relevant" = actual rating >= threshold, "recommended" = predicted rating >= threshold),
   micro-averaged over all pairs.
2. :func:`within_test_top_k` -- the Surprise FAQ recipe: each user's *test* movies are
   ranked by predicted rating and the top k are "recommended".
3. :func:`catalogue_top_k` -- the information-retrieval reading: each user gets a top-k
   list over the whole catalogue (movies seen in training excluded) and is scored against
   the relevant test movies; also NDCG@k, MAP@k and hit rate.

Every function validates its input and raises :class:`movierec.errors.DataError` for
empty input, missing columns, NaN values and length mismatches, and
:class:`movierec.errors.ConfigError` for an invalid ``k``, ``threshold`` or ``n_items``.
Everything is vectorised (numpy ``bincount`` / pandas ``groupby``): the functions are meant
to run on millions of rows.

Ratings, predictions and ``threshold`` are in rating units (e.g. stars on a 0.5-5.0 scale);
rmse and mae are in rating units, mse in squared rating units; every other metric is a
unitless share in [0, 1] except the counts ``n``, ``tp``, ``fp``, ``fn``, ``tn``, ``users``
and ``k``.

The package root re-exports the public names; the modules hold one concern each:

* ``accuracy``: :func:`rating_errors`, :func:`pairwise_prf`, :func:`within_test_top_k`
  (readings 0-2);
* ``ranking``: :func:`catalogue_top_k` (reading 3, with its rank checks),
  :func:`catalogue_coverage`;
* ``beyond``: :func:`novelty`, :func:`popularity_bias`, :func:`personalisation`,
  :func:`intra_list_diversity`, :func:`beyond_accuracy`;
* ``definitions``: :data:`METRIC_DEFINITIONS`;
* ``_checks``: the input checks and the 0/0-safe arithmetic they share.
"""

from __future__ import annotations

from movierec.metrics._checks import _check_k as _check_k  # the Spark twins reuse these
from movierec.metrics._checks import _check_threshold as _check_threshold
from movierec.metrics._checks import _harmonic as _harmonic
from movierec.metrics._checks import _safe_div as _safe_div
from movierec.metrics.accuracy import pairwise_prf, rating_errors, within_test_top_k
from movierec.metrics.beyond import _NO_GENRES as _NO_GENRES
from movierec.metrics.beyond import (
    beyond_accuracy,
    intra_list_diversity,
    novelty,
    personalisation,
    popularity_bias,
)
from movierec.metrics.definitions import METRIC_DEFINITIONS
from movierec.metrics.ranking import catalogue_coverage, catalogue_top_k

__all__ = [
    "METRIC_DEFINITIONS",
    "beyond_accuracy",
    "catalogue_coverage",
    "catalogue_top_k",
    "intra_list_diversity",
    "novelty",
    "pairwise_prf",
    "personalisation",
    "popularity_bias",
    "rating_errors",
    "within_test_top_k",
]
