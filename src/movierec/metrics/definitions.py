"""The plain-English definition of every value :mod:`movierec.metrics` reports.

:data:`METRIC_DEFINITIONS` is keyed ``"<function>.<key>"``; the HTML report prints these
beside the numbers.
"""

from __future__ import annotations

_NOVELTY = (
    "Mean self-information of the recommended movies in bits: mean over users of "
    "(1/|L_u|) * sum over i in L_u of -log2(p_i), p_i = (#train users who rated i) / "
    "(#train users U), and p_i = 1/(U+1) for a movie unseen in train (higher = less obvious)."
)
_DIVERSITY = (
    "Intra-list diversity by genre: mean over users with >= 2 movies in their list of the "
    "mean pairwise Jaccard distance 1 - |G_i & G_j| / |G_i | G_j| between the movies' genre "
    "sets (two genre-less movies: distance 0); 0 = all alike, 1 = no genre shared."
)
_POPULARITY_BIAS = (
    "Mean popularity percentile of the recommended movies: mean over users of the mean over "
    "i in L_u of rank(c_i)/M, c_i = number of train ratings of movie i, ranks 1..M over the M "
    "train movies (ties get their average rank), 0 for a movie unseen in train; 1 = only the "
    "most-rated movies, about 0.5 = popularity-neutral."
)
_PERSONALISATION = (
    "1 - mean pairwise overlap of users' lists: 1 - (sum over user pairs u<v of "
    "|L_u & L_v| / k) / (U(U-1)/2), computed as sum over movies of c_i(c_i-1)/2 with c_i = "
    "number of lists holding movie i; 0 = everyone gets the same list, 1 = no overlap."
)

METRIC_DEFINITIONS: dict[str, str] = {
    # rating_errors
    "rating_errors.rmse": "Root mean squared error between predicted and actual ratings "
    "(rating units; lower is better).",
    "rating_errors.mae": "Mean absolute error between predicted and actual ratings "
    "(rating units; lower is better).",
    "rating_errors.mse": "Mean squared error between predicted and actual ratings "
    "(squared rating units; lower is better).",
    "rating_errors.n": "Number of (user, movie) test pairs that were scored.",
    # pairwise_prf
    "pairwise_prf.precision": "Of all test pairs predicted at or above the threshold, the share "
    "whose actual rating is also at or above it: TP / (TP + FP).",
    "pairwise_prf.recall": "Of all test pairs actually rated at or above the threshold, the share "
    "also predicted at or above it: TP / (TP + FN).",
    "pairwise_prf.f1": "Harmonic mean of the pairwise precision and recall.",
    "pairwise_prf.tp": "Test pairs with actual and predicted rating both at or above the "
    "threshold.",
    "pairwise_prf.fp": "Test pairs predicted at or above the threshold but actually rated "
    "below it.",
    "pairwise_prf.fn": "Test pairs actually rated at or above the threshold but predicted "
    "below it.",
    "pairwise_prf.tn": "Test pairs with actual and predicted rating both below the threshold.",
    "pairwise_prf.n": "Number of (user, movie) test pairs classified.",
    # within_test_top_k
    "within_test_top_k.k": "Number of each user's test movies (best predicted first) "
    "treated as recommended.",
    "within_test_top_k.precision": "Mean over users of: among the user's k best-predicted test "
    "movies that are predicted at or above the threshold, the share actually rated at or above it.",
    "within_test_top_k.recall": "Mean over users of: among the user's test movies actually rated "
    "at or above the threshold, the share that are in the top k and predicted at or above it.",
    "within_test_top_k.f1": "Harmonic mean of the mean within-test precision and mean "
    "within-test recall.",
    "within_test_top_k.users": "Number of users with at least one test prediction.",
    # catalogue_top_k
    "catalogue_top_k.k": "Length of each user's recommendation list over the whole catalogue.",
    "catalogue_top_k.precision": "Mean over users of the share of the k recommended movies that "
    "are relevant test movies (rated at or above the threshold).",
    "catalogue_top_k.recall": "Mean over users of the share of the user's relevant test movies "
    "that appear among the k recommendations: hits / |relevant| (recall@k; at most k/|relevant| "
    "for a user with more than k relevant movies).",
    "catalogue_top_k.recall_norm": "Normalised recall@k: mean over users of hits / min(k, "
    "|relevant|), so a full list of hits scores 1 however many movies are relevant (the "
    "recall@k of Liang et al. 2018 and the iALS/EASE papers; not the same number as recall).",
    "catalogue_top_k.f1": "Harmonic mean of the mean catalogue precision@k and mean recall@k.",
    "catalogue_top_k.ndcg": "Mean normalised discounted cumulative gain@k: hits near the top of "
    "the list count more; 1 means every top slot holds a relevant movie (binary gain).",
    "catalogue_top_k.map": "Mean average precision@k: the precision at each hit's rank, averaged "
    "over min(#relevant, k), then over users.",
    "catalogue_top_k.hit_rate": "Share of users with at least one relevant test movie among "
    "their k recommendations.",
    "catalogue_top_k.users": "Number of users evaluated: users with at least one relevant "
    "test movie.",
    # catalogue_coverage
    "catalogue_coverage": "Share of the catalogue's movies that appear in at least one user's "
    "recommendation list.",
    # beyond accuracy (single floats)
    "novelty": _NOVELTY,
    "intra_list_diversity": _DIVERSITY,
    "popularity_bias": _POPULARITY_BIAS,
    "personalisation": _PERSONALISATION,
    # beyond_accuracy bundle
    "beyond_accuracy.coverage": "Catalogue coverage of the top-k lists: |union of L_u| / N, "
    "N = catalogue size (see catalogue_coverage).",
    "beyond_accuracy.novelty": _NOVELTY,
    "beyond_accuracy.diversity": _DIVERSITY + " None when no movies table is given or no list "
    "has 2 movies.",
    "beyond_accuracy.popularity_bias": _POPULARITY_BIAS,
    "beyond_accuracy.personalisation": _PERSONALISATION + " None when fewer than 2 users "
    "have a list.",
}
"""One-line plain-English definition of every reported value, keyed ``"<function>.<key>"``
(``"catalogue_coverage"`` alone for that function's single float)."""
