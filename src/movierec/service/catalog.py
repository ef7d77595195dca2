"""The users and movies of one training data set, as the service speaks of them.

Ids from the outside are the data's original ids (as text); the service works in *rows*
(positions in the id-sorted factor arrays). They map to the model's dense ids through
``user_ids.npy`` / ``item_ids.npy`` when the ids were remapped, and back on the way out.
Also here: titles, genres (with per-genre masks for filters), popularity (number of
training ratings, ties by ascending movie id) and each user's seen movies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from movierec.service.training_reader import TrainingData


class Catalog:
    """Id maps, titles, genres, popularity and seen movies (module docstring); immutable."""

    def __init__(self, user_ids: np.ndarray, item_ids: np.ndarray, data: TrainingData) -> None:
        self.data = data
        self.user_ids = user_ids
        self.item_ids = item_ids
        self.n_users = len(user_ids)
        self.n_items = len(item_ids)
        seen = data.seen
        self.seen_indptr = seen.seen_indptr
        self.seen_items = seen.seen_items
        self.ratings = seen.seen_ratings
        """Training ratings in ``seen_items`` order."""
        self.item_counts = seen.item_counts
        self.n_ratings = len(seen.seen_items)
        self.rating_min, self.rating_max = data.rating_min, data.rating_max
        self.titles = data.titles
        self.genres = data.genres
        self.popular_rows = np.lexsort((np.arange(self.n_items), -self.item_counts))
        items = data.item_originals
        out = items[item_ids] if items is not None else item_ids
        self.item_out_ids: list[Any] = out.tolist()
        masks: dict[str, np.ndarray] = {}
        self.genre_names: dict[str, str] = {}
        for r, gl in enumerate(self.genres):
            for g in gl:
                key = g.lower()
                if key not in masks:
                    masks[key] = np.zeros(self.n_items, dtype=bool)
                    self.genre_names[key] = g
                masks[key][r] = True
        self._genre_masks = masks
        # Original id text -> row, built once when ids were remapped (else parsed as ints).
        self._user_text: dict[str, int] | None = None
        self._item_text: dict[str, int] | None = None
        if data.user_originals is not None:
            originals = data.user_originals[user_ids].tolist()
            self._user_text = {str(v): r for r, v in enumerate(originals)}
        if items is not None:
            self._item_text = {str(v): r for r, v in enumerate(self.item_out_ids)}

    @staticmethod
    def _int_row(sorted_ids: np.ndarray, text: str) -> int | None:
        try:
            value = int(text.strip())
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                return None
            if not (math.isfinite(f) and f == round(f)):
                return None
            value = int(f)
        pos = int(np.searchsorted(sorted_ids, value))
        if pos < len(sorted_ids) and int(sorted_ids[pos]) == value:
            return pos
        return None

    def user_row(self, user_id: Any) -> int | None:
        """Row of a user given by original id (text or number), or None if unknown."""
        text = str(user_id)
        if self._user_text is not None:
            return self._user_text.get(text.strip())
        return self._int_row(self.user_ids, text)

    def item_row(self, movie_id: Any) -> int | None:
        """Row of a movie given by original id (text or number), or None if unknown."""
        text = str(movie_id)
        if self._item_text is not None:
            return self._item_text.get(text.strip())
        return self._int_row(self.item_ids, text)

    def lookup_items(self, keys: list[str]) -> np.ndarray:
        """Rows (int64) of movies given by original id text, −1 where unknown.

        One vectorised search for integer ids (the common case); per key otherwise.
        """
        if self._item_text is not None:
            table = self._item_text
            return np.fromiter((table.get(k, -1) for k in keys), np.int64, len(keys))
        try:
            values = np.array([int(k) for k in keys], dtype=np.int64)
        except (ValueError, OverflowError):
            rows = [self.item_row(k) for k in keys]
            return np.array([-1 if r is None else r for r in rows], dtype=np.int64)
        if not len(values) or not len(self.item_ids):
            return np.full(len(values), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.item_ids, values), len(self.item_ids) - 1)
        return np.where(self.item_ids[pos] == values, pos, -1).astype(np.int64)

    def item_rows(self, movie_ids: list[Any]) -> tuple[np.ndarray, list[Any]]:
        """(rows of the known movies, the unknown ids as given)."""
        rows, unknown = [], []
        for m in movie_ids:
            r = self.item_row(m)
            if r is None:
                unknown.append(m)
            else:
                rows.append(r)
        return np.asarray(rows, dtype=np.int64), unknown

    def genre_mask(self, genres: list[str]) -> np.ndarray | None:
        """Movies having at least one of ``genres`` (case-insensitive); None for no filter.

        Raises:
            KeyError: a genre no movie of the model has (the message lists the known ones).
        """
        if not genres:
            return None
        mask = np.zeros(self.n_items, dtype=bool)
        for g in genres:
            m = self._genre_masks.get(g.strip().lower())
            if m is None:
                known = ", ".join(sorted(self.genre_names.values())) or "none"
                raise KeyError(f"unknown genre {g!r}; known genres: {known}")
            mask |= m
        return mask

    def seen(self, urow: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, ratings) of a known user's training ratings."""
        lo, hi = self.seen_indptr[urow], self.seen_indptr[urow + 1]
        return self.seen_items[lo:hi], self.ratings[lo:hi]

    def seen_rows(self, urow: int) -> np.ndarray:
        """Item rows of a known user's training ratings."""
        return self.seen_items[self.seen_indptr[urow] : self.seen_indptr[urow + 1]]

    def items(self, rows: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """The response form of scored rows: movie_id (original), title, genres, score."""
        return [
            {
                "movie_id": self.item_out_ids[r],
                "title": self.titles[r],
                "genres": self.genres[r],
                "score": s,
            }
            for r, s in zip(rows.tolist(), scores.tolist())
        ]

    def popular(
        self,
        k: int,
        exclude: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Most-rated movies (score = number of training ratings), skipping ``exclude``."""
        ok = np.ones(self.n_items, dtype=bool)
        if exclude is not None and len(exclude):
            ok[exclude] = False
        if mask is not None:
            ok &= mask
        rows = self.popular_rows[ok[self.popular_rows]][:k]
        return rows, self.item_counts[rows].astype(np.float64)


class CatalogView:
    """The :class:`Catalog`'s ids, titles, counts and seen movies as attributes of the object
    holding it (mixed into :class:`movierec.service.scorer.Scorer` first, so these answer
    before the fold-in mix-in's hooks)."""

    catalog: Catalog

    @property
    def user_ids(self) -> np.ndarray:
        return self.catalog.user_ids

    @property
    def item_ids(self) -> np.ndarray:
        return self.catalog.item_ids

    @property
    def titles(self) -> list[str]:
        return self.catalog.titles

    @property
    def genres(self) -> list[list[str]]:
        return self.catalog.genres

    @property
    def item_out_ids(self) -> list[Any]:
        return self.catalog.item_out_ids

    @property
    def item_counts(self) -> np.ndarray:
        return self.catalog.item_counts

    @property
    def seen_indptr(self) -> np.ndarray:
        return self.catalog.seen_indptr

    @property
    def ratings(self) -> np.ndarray:
        """Training ratings in the catalog's seen-movies order."""
        return self.catalog.ratings

    def user_row(self, user_id: Any) -> int | None:
        return self.catalog.user_row(user_id)

    def item_row(self, movie_id: Any) -> int | None:
        return self.catalog.item_row(movie_id)

    def seen(self, urow: int) -> tuple[np.ndarray, np.ndarray]:
        return self.catalog.seen(urow)

    def seen_rows(self, urow: int) -> np.ndarray:
        return self.catalog.seen_rows(urow)

    def genre_mask(self, genres: list[str]) -> np.ndarray | None:
        return self.catalog.genre_mask(genres)

    def items(self, rows: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        return self.catalog.items(rows, scores)
