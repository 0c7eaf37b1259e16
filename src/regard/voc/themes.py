"""Themes in customers' own words: free-text answers in, themes with counts, trends and quotes out.

Pure: a Polars frame in, dataclasses out; no database, no HTTP, no logging of the texts. The method
is documented in docs/voice-of-the-customer.md. Choices made here, and why:

- TF-IDF over words and two-word phrases, English stop words removed, then non-negative matrix
  factorisation (NMF): light, offline, explainable (a theme *is* a weighted list of terms), and
  deterministic with a fixed ``random_state`` and the ``nndsvda`` start.
- Contact details and long numbers are removed before the texts are counted, so they never
  become terms, and masked in every quote (``quotes.mask_personal_data``).
- Each answer goes to the theme with its largest weight. Theme vectors are scaled to unit
  length and every TF-IDF row has unit length, so that weight reads the same across corpora
  (about: how much of the answer the theme explains); below ``min_weight`` the answer is
  *unthemed* rather than forced into a theme it hardly touches.
- Answers are sorted by time and id before anything is fitted, so the same answers give the same
  themes whatever order they came in.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import sparse

from regard.voc.quotes import mask_personal_data

REQUIRED_COLUMNS = ("response_id", "customer_id", "question", "text", "responded_at")
# Optional: the respondent's commitment group (String) and current segments (List[String]).
GROUP_COLUMN = "commitment"
SEGMENTS_COLUMN = "segments"
NOT_SCORED = "not scored"

# Fewer answers than this to a question are shown as one theme of all answers.
MIN_ANSWERS = 5
# The automatic number of themes: one per this many answers, at most MAX_AUTO_THEMES.
ANSWERS_PER_THEME = 5
MAX_AUTO_THEMES = 6
MAX_THEMES = 20
MIN_WEIGHT = 0.1
QUOTES_PER_THEME = 3
QUOTE_MAX_LENGTH = 280
TERMS_PER_THEME = 6
# The most frequent terms kept: bounds memory and time on a large base.
MAX_TERMS = 5000
LABEL_TERMS = 2
ALL_ANSWERS = "all answers"
# Words and two-word phrases of letters only: numbers say nothing about a theme.
_TOKENS = r"(?u)\b[^\W\d_]{2,}\b"
_WORD = re.compile(_TOKENS)
_RANDOM_STATE = 0
_MAX_ITER = 1000


@dataclass(frozen=True)
class MonthCount:
    """Answers in one calendar month (``YYYY-MM``)."""

    month: str
    answers: int


@dataclass(frozen=True)
class Quote:
    """One answer that stands for its theme, masked."""

    response_id: int
    text: str
    responded_at: date
    weight: float


@dataclass(frozen=True)
class Theme:
    """A group of answers that use the same words."""

    label: str
    terms: tuple[str, ...]
    answers: int
    share: float
    trend: tuple[MonthCount, ...]
    quotes: tuple[Quote, ...]
    # Answers per commitment group and per current segment, most first; None when not given.
    by_group: dict[str, int] | None
    by_segment: dict[str, int] | None


@dataclass(frozen=True)
class QuestionThemes:
    """The themes in the answers to one open question."""

    question: str
    answers: int
    respondents: int
    themes: tuple[Theme, ...]
    # Answers too far from every theme to belong to one.
    unthemed: int
    months: tuple[str, ...]
    # Why there are no themes, or only one of all answers; None when themes were found.
    note: str | None
    # One row per answer: response_id, theme (its index in ``themes``; null when unthemed), weight.
    assignments: pl.DataFrame


def automatic_theme_count(answers: int) -> int:
    """One theme per five answers, at least one and at most six."""
    return max(1, min(MAX_AUTO_THEMES, answers // ANSWERS_PER_THEME))


def find_themes(
    frame: pl.DataFrame,
    *,
    questions: Sequence[str] | None = None,
    themes: int | None = None,
    quotes: int = QUOTES_PER_THEME,
    min_weight: float = MIN_WEIGHT,
) -> tuple[QuestionThemes, ...]:
    """The themes of each question's answers, in the order of ``questions`` (default: the
    questions in ``frame``, sorted).

    ``frame`` has one row per answer: response_id, customer_id, question, text, responded_at
    (a datetime), and optionally ``commitment`` (the respondent's group) and ``segments`` (a list
    of the segments they are in). ``themes`` fixes the number of themes per question (capped by
    what the answers can carry); by default it follows ``automatic_theme_count``.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"the answers frame lacks {', '.join(missing)}")
    if themes is not None and not 1 <= themes <= MAX_THEMES:
        raise ValueError(f"themes must be between 1 and {MAX_THEMES}")
    answers = (
        frame.with_columns(pl.col("text").str.strip_chars())
        .filter(pl.col("text").is_not_null() & (pl.col("text") != ""))
        .sort("responded_at", "response_id")
    )
    asked = sorted(answers.get_column("question").unique()) if questions is None else questions
    return tuple(
        _question_themes(
            answers.filter(pl.col("question") == question),
            question=question,
            themes=themes,
            quotes=quotes,
            min_weight=min_weight,
        )
        for question in asked
    )


def _question_themes(
    answers: pl.DataFrame, *, question: str, themes: int | None, quotes: int, min_weight: float
) -> QuestionThemes:
    n = answers.height
    months = _months(answers)
    if n == 0:
        return QuestionThemes(
            question=question,
            answers=0,
            respondents=0,
            themes=(),
            unthemed=0,
            months=months,
            note="no answers",
            assignments=_assignments([], [], []),
        )
    texts = _singular(
        [mask_personal_data(t, placeholders=False) for t in answers.get_column("text")]
    )
    matrix, vocabulary = _tfidf(texts)
    if n < MIN_ANSWERS or matrix is None:
        note = (
            f"only {n} answer{'s' if n != 1 else ''}: too few to find themes"
            if n < MIN_ANSWERS
            else "no words shared by two answers to find themes in"
        )
        totals = None if matrix is None else np.asarray(matrix.sum(axis=0)).ravel()
        terms = () if totals is None else _top_terms(totals, vocabulary)
        weights = np.ones(n)
        theme = _theme(
            answers,
            np.arange(n),
            weights,
            label=ALL_ANSWERS,
            terms=terms,
            total=n,
            months=months,
            quotes=quotes,
        )
        return QuestionThemes(
            question=question,
            answers=n,
            respondents=answers.get_column("customer_id").n_unique(),
            themes=(theme,),
            unthemed=0,
            months=months,
            note=note,
            assignments=_assignments(
                answers.get_column("response_id").to_list(), [0] * n, [1.0] * n
            ),
        )
    k = min(themes or automatic_theme_count(n), n, len(vocabulary))
    # scikit-learn is imported where it is used: loading it takes seconds every command would pay.
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(n_components=k, init="nndsvda", random_state=_RANDOM_STATE, max_iter=_MAX_ITER)
    with warnings.catch_warnings():
        # Stopping at max_iter leaves a factorisation that is close enough to read themes from;
        # a warning here would only say the last digits might still move.
        warnings.simplefilter("ignore", ConvergenceWarning)
        document_weights = model.fit_transform(matrix)
    components = np.asarray(model.components_)
    norms = np.linalg.norm(components, axis=1)
    norms[norms == 0] = 1.0
    components = components / norms[:, None]
    document_weights = document_weights * norms[None, :]
    best = document_weights.argmax(axis=1)
    strength = document_weights[np.arange(n), best]
    themed = strength >= min_weight
    found: list[tuple[Theme, int]] = []
    for index in range(k):
        rows = np.flatnonzero(themed & (best == index))
        if rows.size == 0:
            continue
        terms = _top_terms(components[index], vocabulary)
        found.append(
            (
                _theme(
                    answers,
                    rows,
                    strength[rows],
                    label=" · ".join(terms[:LABEL_TERMS]) or f"theme {index + 1}",
                    terms=terms,
                    total=n,
                    months=months,
                    quotes=quotes,
                ),
                index,
            )
        )
    found.sort(key=lambda pair: (-pair[0].answers, pair[0].label))
    position = {index: place for place, (_, index) in enumerate(found)}
    return QuestionThemes(
        question=question,
        answers=n,
        respondents=answers.get_column("customer_id").n_unique(),
        themes=tuple(theme for theme, _ in found),
        unthemed=int((~themed).sum()),
        months=months,
        note=None,
        assignments=_assignments(
            answers.get_column("response_id").to_list(),
            [position[int(b)] if ok else None for b, ok in zip(best, themed, strict=True)],
            [round(float(s), 6) for s in strength],
        ),
    )


def _singular(texts: list[str]) -> list[str]:
    """The texts as lower-case words, a plural made singular where the singular is used too
    ("repairs" and "repair" count as one term; "news" stays unless "new" is used)."""
    tokenized = [_WORD.findall(text.lower()) for text in texts]
    used = {word for words in tokenized for word in words}

    def singular(word: str) -> str:
        if len(word) > 4 and word.endswith("ies") and word[:-3] + "y" in used:
            return word[:-3] + "y"
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and word[:-1] in used:
            return word[:-1]
        return word

    return [" ".join(singular(word) for word in words) for words in tokenized]


def _tfidf(texts: list[str]) -> tuple[sparse.csr_matrix | None, list[str]]:
    """The TF-IDF matrix (rows of unit length) and its terms; None when no word is left.

    A term must appear in at least two answers: a word one person used says nothing shared,
    and a rare word may be a name, which would then be shown as a term without any quote.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectoriser = TfidfVectorizer(
        stop_words="english",
        ngram_range=(1, 2),
        min_df=2,
        max_features=MAX_TERMS,
        token_pattern=_TOKENS,
        strip_accents="unicode",
        sublinear_tf=True,
    )
    try:
        matrix = vectoriser.fit_transform(texts)
    except ValueError:  # one answer, or every word a stop word or used only once
        return None, []
    return sparse.csr_matrix(matrix), list(vectoriser.get_feature_names_out())


def _top_terms(weights: npt.NDArray[np.float64], vocabulary: Sequence[str]) -> tuple[str, ...]:
    """The heaviest terms, skipping one whose words an earlier term already has ("delivery"
    after "fast delivery"), so a label names two ideas, not one twice. Ties go alphabetically."""
    order = sorted(range(len(vocabulary)), key=lambda i: (-float(weights[i]), vocabulary[i]))
    chosen: list[str] = []
    words: set[str] = set()
    for i in order:
        if len(chosen) == TERMS_PER_THEME or weights[i] <= 0:
            break
        term_words = set(vocabulary[i].split())
        if term_words & words:
            continue
        chosen.append(vocabulary[i])
        words |= term_words
    return tuple(chosen)


def _theme(
    answers: pl.DataFrame,
    rows: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    *,
    label: str,
    terms: tuple[str, ...],
    total: int,
    months: tuple[str, ...],
    quotes: int,
) -> Theme:
    members = answers[rows.tolist()].with_columns(pl.Series("weight", weights, dtype=pl.Float64))
    per_month = dict(
        members.group_by(pl.col("responded_at").dt.strftime("%Y-%m").alias("month"))
        .len()
        .iter_rows()
    )
    return Theme(
        label=label,
        terms=terms,
        answers=members.height,
        share=members.height / total,
        trend=tuple(MonthCount(month, int(per_month.get(month, 0))) for month in months),
        quotes=_quotes(members, quotes),
        by_group=_by_group(members),
        by_segment=_by_segment(members),
    )


def _quotes(members: pl.DataFrame, limit: int) -> tuple[Quote, ...]:
    """The answers the theme explains best; the same words twice are quoted once."""
    picked: list[Quote] = []
    seen: set[str] = set()
    ranked = members.sort(["weight", "responded_at", "response_id"], descending=[True, True, False])
    for row in ranked.iter_rows(named=True):
        if len(picked) == limit:
            break
        text = mask_personal_data(row["text"])
        if len(text) > QUOTE_MAX_LENGTH:
            text = text[: QUOTE_MAX_LENGTH - 1].rstrip() + "…"
        key = " ".join(text.casefold().split())
        if key in seen:
            continue
        seen.add(key)
        picked.append(
            Quote(
                response_id=int(row["response_id"]),
                text=text,
                responded_at=row["responded_at"].date(),
                weight=round(float(row["weight"]), 3),
            )
        )
    return tuple(picked)


def _counted(column: pl.Series) -> dict[str, int]:
    counts = column.value_counts(name="n")
    pairs = [(str(name), int(n)) for name, n in counts.iter_rows()]
    return dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


def _by_group(members: pl.DataFrame) -> dict[str, int] | None:
    if GROUP_COLUMN not in members.columns:
        return None
    return _counted(members.get_column(GROUP_COLUMN).cast(pl.String).fill_null(NOT_SCORED))


def _by_segment(members: pl.DataFrame) -> dict[str, int] | None:
    if SEGMENTS_COLUMN not in members.columns:
        return None
    return _counted(members.get_column(SEGMENTS_COLUMN).explode().drop_nulls())


def _months(answers: pl.DataFrame) -> tuple[str, ...]:
    """Every calendar month from the first answer's to the last's, empty months included."""
    if answers.is_empty():
        return ()
    moments = answers.get_column("responded_at")
    first: date = moments.min().date()  # type: ignore[union-attr]
    last: date = moments.max().date()  # type: ignore[union-attr]
    months: list[str] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months)


def _assignments(
    response_ids: Sequence[int], themes: Sequence[int | None], weights: Sequence[float]
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "response_id": pl.Series(response_ids, dtype=pl.Int64),
            "theme": pl.Series(themes, dtype=pl.Int64),
            "weight": pl.Series(weights, dtype=pl.Float64),
        }
    )
