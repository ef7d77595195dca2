"""Find movies by title the way people type them: fuzzy, forgiving, and honest about ambiguity.

A title and a query are both reduced to a *key*: accents folded (``Amélie`` -> ``amelie``),
lower case, ``&`` read as ``and``, apostrophes dropped, any other punctuation a space, and a
leading article removed. MovieLens writes articles at the end (``Matrix, The (1999)``) and
alternative titles in parentheses (``Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)``);
both forms are understood, and the year in parentheses is kept apart.

Each movie gets a score in [0, 1] against the query (the best over its titles):

* 1.0 — same key (``the matrix`` = ``Matrix, The (1999)``);
* 0.9 — the query is the start of the title, as whole words (``toy story`` -> ``Toy Story 2``);
* 0.85 — the query appears inside the title as whole words;
* otherwise 0.95 times the :class:`difflib.SequenceMatcher` ratio of the keys, or of the
  query and as many leading words of the title (times 0.9 again), whichever is higher —
  this forgives typos (``toy stroy``).

A trailing year in the query (``toy story 1995``, ``Toy Story (1995)``) lowers the score of
movies from another year by 0.3; the query is also scored as typed, so ``Blade Runner 2049``
still finds the film of that name. Every movie within 0.15 of the best score (and above 0.6)
is a candidate: one candidate is a match, several are ambiguous and the caller asks which.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MIN_SCORE = 0.6
"""Scores below this are not matches at all."""
AMBIGUITY_MARGIN = 0.15
"""Movies within this distance of the best score are all candidates."""
WRONG_YEAR_PENALTY = 0.3
PREFIX_SCORE = 0.9
PHRASE_SCORE = 0.85
FUZZY_WEIGHT = 0.95
"""Fuzzy (typo) matches rank a little below exact structural ones of the same length."""

_ARTICLES = (
    "the", "a", "an", "le", "la", "les", "l", "il", "lo", "gli", "i", "el", "los", "las",
    "das", "der", "die", "den", "det", "un", "une", "des",
)  # fmt: skip
_TRAILING_ARTICLE = re.compile(
    r"^(?P<rest>.+?),\s*(?P<article>" + "|".join(_ARTICLES) + r"|l')$", re.IGNORECASE
)
_TITLE_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?:\s*[-–]\s*\d{0,4})?\s*\)\s*$")
_TRAILING_PAREN = re.compile(r"\s*\((?P<alt>[^()]*)\)\s*$")
_QUERY_YEAR = re.compile(r"^(?P<rest>.*?\S)\s*[(\[]?\s*(?P<year>1[89]\d\d|20\d\d)\s*[)\]]?\s*$")
_NON_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class TitleMatch:
    """One candidate movie: its id (as given), title, genres, year and score in [0, 1]."""

    movie_id: Any
    title: str
    genres: str
    year: int | None
    score: float
    popularity: float = 0.0


@dataclass(frozen=True)
class TitleSearch:
    """The result of :func:`find_movie`: ``match`` when exactly one movie fits, else None
    and ``candidates`` (best first; empty when nothing is close)."""

    query: str
    candidates: list[TitleMatch] = field(default_factory=list)

    @property
    def match(self) -> TitleMatch | None:
        return self.candidates[0] if len(self.candidates) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def fold(text: str) -> str:
    """``text`` in lower case without accents (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _front_article(title: str) -> str:
    """``Matrix, The`` -> ``The Matrix``; ``Auberge espagnole, L'`` -> ``L'Auberge espagnole``."""
    m = _TRAILING_ARTICLE.match(title.strip())
    if not m:
        return title.strip()
    article = m.group("article")
    sep = "" if article.endswith("'") else " "
    return f"{article}{sep}{m.group('rest')}"


def title_key(text: str) -> str:
    """The comparison key of a title or query (module docstring); may be empty."""
    s = fold(_front_article(text)).replace("&", " and ")
    s = re.sub(r"['’`´]", "", s)
    words = _NON_WORD.sub(" ", s).split()
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def split_title(title: str) -> tuple[list[str], int | None]:
    """(keys of the main and alternative titles, year) of a MovieLens-style title.

    ``"City of Lost Children, The (Cité des enfants perdus, La) (1995)"`` gives
    ``(["city of lost children", "cite des enfants perdus"], 1995)``.
    """
    text = title.strip()
    year = None
    m = _TITLE_YEAR.search(text)
    if m:
        year = int(m.group("year"))
        text = text[: m.start()]
    alternatives = []
    while True:
        p = _TRAILING_PAREN.search(text)
        if not p or not text[: p.start()].strip():
            break
        alt = p.group("alt").strip()
        if alt.lower().startswith("a.k.a. "):
            alt = alt[7:]
        alternatives.append(alt)
        text = text[: p.start()]
    keys = [title_key(text)] + [title_key(a) for a in reversed(alternatives)]
    return [k for k in keys if k], year


def _fuzzy(matcher: difflib.SequenceMatcher, text: str) -> float:
    """SequenceMatcher ratio of ``text`` against the matcher's query, 0 when clearly low."""
    matcher.set_seq1(text)
    if matcher.real_quick_ratio() < MIN_SCORE or matcher.quick_ratio() < MIN_SCORE:
        return 0.0
    return matcher.ratio()


def _similarity(query: str, key: str, matcher: difflib.SequenceMatcher | None = None) -> float:
    """Score of one title key against one query key (module docstring), in [0, 1].

    ``matcher``: a SequenceMatcher whose second sequence is already ``query`` (reused
    across titles, so the query is indexed once).
    """
    if not query or not key:
        return 0.0
    if query == key:
        return 1.0
    if key.startswith(query + " "):
        return PREFIX_SCORE
    if f" {query} " in f" {key} ":
        return PHRASE_SCORE
    if matcher is None:
        matcher = difflib.SequenceMatcher(None, b=query, autojunk=False)
    best = FUZZY_WEIGHT * _fuzzy(matcher, key)
    words = key.split()
    n = len(query.split())
    if len(words) > n:
        best = max(best, FUZZY_WEIGHT * PREFIX_SCORE * _fuzzy(matcher, " ".join(words[:n])))
    return best


def parse_query(query: str) -> list[tuple[str, int | None]]:
    """The readings of a query: (key, year or None). A trailing year gives a second reading."""
    readings: list[tuple[str, int | None]] = []
    m = _QUERY_YEAR.match(query.strip())
    if m:
        rest = m.group("rest").rstrip(" ,-([")
        readings.append((title_key(rest), int(m.group("year"))))
    readings.append((title_key(query), None))
    return [(k, y) for k, y in readings if k]


class TitleIndex:
    """Movie titles prepared once for many searches (keys and years parsed up front).

    ``movie_ids``, ``titles``, ``genres`` and ``popularity`` (e.g. number of ratings; it
    orders candidates of equal score) are parallel sequences.

    Raises:
        ValueError: the sequences differ in length.
    """

    def __init__(
        self,
        movie_ids: Sequence[Any],
        titles: Sequence[str],
        genres: Sequence[str] | None = None,
        popularity: Sequence[float] | None = None,
    ) -> None:
        n = len(movie_ids)
        if len(titles) != n or (genres is not None and len(genres) != n):
            raise ValueError("movie_ids, titles and genres must have the same length")
        if popularity is not None and len(popularity) != n:
            raise ValueError("popularity must have one value per movie")
        self.movie_ids = list(movie_ids)
        self.titles = ["" if t is None else str(t) for t in titles]
        self.genres = ["" if genres is None else str(g or "") for g in (genres or [""] * n)]
        self.popularity = [0.0] * n if popularity is None else [float(p) for p in popularity]
        self._parsed = [split_title(t) if t else ([], None) for t in self.titles]

    def __len__(self) -> int:
        return len(self.movie_ids)

    def search(self, query: str, *, limit: int = 10) -> TitleSearch:
        """Movies whose title matches ``query`` (module docstring for the scoring).

        Candidates are sorted by score, then popularity, then title; at most ``limit``.

        Raises:
            ValueError: ``query`` has no letters or digits.
        """
        readings = parse_query(query)
        if not readings:
            raise ValueError(f"the movie query {query!r} has no letters or digits")
        matchers = [difflib.SequenceMatcher(None, b=q, autojunk=False) for q, _ in readings]
        scored: list[TitleMatch] = []
        for i, (keys, year) in enumerate(self._parsed):
            best = 0.0
            for (qkey, qyear), matcher in zip(readings, matchers):
                s = max((_similarity(qkey, k, matcher) for k in keys), default=0.0)
                if qyear is not None and year != qyear:
                    s -= WRONG_YEAR_PENALTY
                best = max(best, s)
            if best >= MIN_SCORE:
                scored.append(
                    TitleMatch(
                        self.movie_ids[i],
                        self.titles[i],
                        self.genres[i],
                        year,
                        round(best, 4),
                        self.popularity[i],
                    )
                )
        if not scored:
            return TitleSearch(query, [])
        top = max(m.score for m in scored)
        close = [m for m in scored if m.score >= top - AMBIGUITY_MARGIN]
        close.sort(key=lambda m: (-m.score, -m.popularity, m.title))
        log.debug("title search %r: %d candidates (best %.3f)", query, len(close), top)
        return TitleSearch(query, close[:limit])


def find_movie(
    query: str,
    movie_ids: Sequence[Any],
    titles: Sequence[str],
    genres: Sequence[str] | None = None,
    popularity: Sequence[float] | None = None,
    *,
    limit: int = 10,
) -> TitleSearch:
    """One search without keeping the index: ``TitleIndex(...).search(query, limit=limit)``.

    Raises:
        ValueError: the sequences differ in length, or ``query`` has no letters or digits.
    """
    return TitleIndex(movie_ids, titles, genres, popularity).search(query, limit=limit)
