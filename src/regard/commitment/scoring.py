"""Commitment scoring: latest survey answers in, a score, a group and a reason out.

Pure and vectorised: one Polars frame in, the same frame with the results out; no database, no
per-row Python. The formula, every default and the eight groups are in docs/commitment.md.

Choices made here, and why:

- Every answer is first put on one footing: *points* of a ten-point scale for what is compared
  (satisfaction, emotional fit, the ratings of brands), so a margin reads the same whatever
  scales a brand chose; and 0-1 for what enters the logistic (involvement, ambivalence).
- Ambivalence is the answer to "considering switching in the next 12 months", rescaled to 0-1,
  not the closeness of our rating and the alternative's: that closeness is the margin already,
  and counting it twice would leave its weight meaningless.
- Affective commitment (``affective``, how much they like us) and lock-in (``lock_in``, no
  attractive alternative) are separate columns, because lock-in keeps a customer without making
  an advocate of them. The margin mixes both, as the Conversion Model does; the reason of an
  Entrenched or Average user who likes us less than the middle of the scale says they are held
  by lock-in.
- Boundaries are inclusive from below: a score equal to a cut point is in the higher group; a
  non-user's difference equal to a threshold is in the more available group. Low margin is
  ``margin <= low_margin``; high involvement is ``involvement >= high_involvement``.
- Quartile cut points (the default) are only meaningful over a whole base: to score a few new
  responses, pass the cut points of the last full scoring as ``cuts``.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from regard.config import (
    NON_USER_ITEMS,
    USER_ITEMS,
    CommitmentItemKey,
    CommitmentOptions,
    SurveyItem,
)
from regard.errors import InvalidInput

USER_GROUPS = ("Entrenched", "Average", "Shallow", "Convertible")
NON_USER_GROUPS = ("Available", "Ambivalent", "Weakly unavailable", "Strongly unavailable")
Group = pl.Enum([*USER_GROUPS, *NON_USER_GROUPS])

# Compared answers are expressed in points of a ten-point scale.
POINTS = 10.0
# An Entrenched or Average user whose liking is below the middle of the scale is held by lock-in.
LIKING_MIDPOINT = 0.5

LABELS: dict[CommitmentItemKey, str] = {
    "satisfaction": "satisfaction",
    "emotional_fit": "emotional fit",
    "involvement": "involvement",
    "best_alternative": "best alternative",
    "considering_switching": "considering switching",
    "rating_brand": "rating of us",
    "rating_current": "rating of their current brand",
}

RESULT_COLUMNS = ("margin", "ambivalence", "affective", "lock_in", "score", "group", "reason")


class CutPoints(NamedTuple):
    """Scores from which a user is Shallow, Average and Entrenched; below all, Convertible."""

    shallow_from: float
    average_from: float
    entrenched_from: float


def cut_points(scores: pl.Series, options: CommitmentOptions) -> CutPoints:
    """The configured cut points, or the quartiles of the scored base (nulls left out).

    Quartiles interpolate linearly between neighbouring scores, as numpy's default does.
    """
    if options.cut_points is not None:
        return CutPoints(*options.cut_points)
    base = scores.drop_nulls().drop_nans()
    if base.is_empty():
        raise InvalidInput("no scored users to take the quartiles of; configure cut_points")
    quartiles = [base.quantile(q, interpolation="linear") for q in (0.25, 0.5, 0.75)]
    first, second, third = (float(q) for q in quartiles if q is not None)
    return CutPoints(first, second, third)


def score(
    frame: pl.DataFrame, options: CommitmentOptions, *, cuts: CutPoints | None = None
) -> pl.DataFrame:
    """Score each customer's latest answers and place them in one of the eight groups.

    ``frame`` has one row per customer: ``customer_id``, ``is_user`` and one Float64 column per
    survey item, named by its key (null where unanswered). The result is the same rows with
    ``margin``, ``ambivalence``, ``affective``, ``lock_in``, ``score``, ``group`` and ``reason``
    added. A row missing an answer its kind of respondent needs, or with an answer outside its
    scale, gets a null group and a reason naming the item. ``cuts`` overrides the configured
    cut points and the quartiles.
    """
    needed = ["customer_id", "is_user", *USER_ITEMS, *NON_USER_ITEMS]
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise InvalidInput(f"the responses lack columns: {', '.join(missing)}")

    item = options.item
    scored = frame.with_columns(
        pl.col(key).cast(pl.Float64) for key in (*USER_ITEMS, *NON_USER_ITEMS)
    ).with_columns(_problems(options).alias("_problems"))
    is_user = pl.col("is_user")
    ok = pl.col("_problems") == ""
    user = ok & is_user
    non_user = ok & ~is_user

    liking = _liking(options)
    inputs = logistic_inputs(options)
    weights = options.weights
    scored = scored.with_columns(
        pl.when(user)
        .then(inputs.margin)
        .when(non_user)
        .then(_points(item("rating_brand")) - _points(item("rating_current")))
        .alias("margin"),
        pl.when(user).then(inputs.ambivalence).alias("ambivalence"),
        pl.when(user)
        .then(liking / POINTS)
        .when(non_user)
        .then(_unit(item("rating_brand")))
        .alias("affective"),
        pl.when(user).then(1 - _unit(item("best_alternative"))).alias("lock_in"),
    ).with_columns(
        pl.when(user)
        .then(
            1
            / (
                1
                + (
                    -(
                        weights.intercept
                        + weights.margin * pl.col("margin")
                        + weights.involvement * inputs.involvement
                        + weights.ambivalence * pl.col("ambivalence")
                    )
                ).exp()
            )
        )
        .alias("score")
    )

    if cuts is None:
        scores = scored.get_column("score")
        has_scores = options.cut_points is not None or scores.drop_nulls().len() > 0
        # With nobody scored, no row is cut, so any cut points do.
        cuts = cut_points(scores, options) if has_scores else CutPoints(0.0, 0.0, 0.0)

    scored = scored.with_columns(_group(options, cuts, user=user, non_user=non_user))
    return scored.with_columns(_reason(options, cuts, user=user, non_user=non_user)).drop(
        "_problems"
    )


class LogisticInputs(NamedTuple):
    """A user's three inputs to the logistic, as expressions over the answer columns."""

    margin: pl.Expr  # liking minus the best alternative, points of a ten-point scale
    involvement: pl.Expr  # 0-1
    ambivalence: pl.Expr  # considering switching, 0-1


def logistic_inputs(options: CommitmentOptions) -> LogisticInputs:
    """The inputs ``score`` weighs, for users; calibration fits its weights on the same ones.

    The answer columns must be numeric; the expressions mean nothing for non-users.
    """
    item = options.item
    return LogisticInputs(
        margin=_liking(options) - _points(item("best_alternative")),
        involvement=_unit(item("involvement")),
        ambivalence=_unit(item("considering_switching")),
    )


def _liking(options: CommitmentOptions) -> pl.Expr:
    item = options.item
    return (_points(item("satisfaction")) + _points(item("emotional_fit"))) / 2


def _points(item: SurveyItem) -> pl.Expr:
    # Multiplying by the factor keeps default 0-10 answers exact, so boundaries are exact too.
    return (pl.col(item.key) - item.scale_min) * (POINTS / (item.scale_max - item.scale_min))


def _unit(item: SurveyItem) -> pl.Expr:
    return (pl.col(item.key) - item.scale_min) / (item.scale_max - item.scale_min)


def _label(key: CommitmentItemKey) -> str:
    return LABELS[key]


def _problems(options: CommitmentOptions) -> pl.Expr:
    """Empty when the row can be scored, else what is wrong with it, item by item."""

    def problems_of(keys: tuple[CommitmentItemKey, ...]) -> pl.Expr:
        found = []
        for key in keys:
            item = options.item(key)
            answer = pl.col(key)
            answered = (answer.is_not_null() & answer.is_not_nan()).fill_null(False)
            found.append(
                pl.when(~answered)
                .then(pl.lit(f"no answer to {_label(key)}"))
                .when(~answer.is_between(item.scale_min, item.scale_max))
                .then(
                    pl.format(
                        f"{_label(key)} {{}} is outside its scale "
                        f"{item.scale_min:g}-{item.scale_max:g}",
                        _show(answer),
                    )
                )
            )
        return pl.concat_str(found, separator=", ", ignore_nulls=True)

    return (
        pl.when(pl.col("is_user").is_null())
        .then(pl.lit("not known whether a user of the brand"))
        .when(pl.col("is_user"))
        .then(problems_of(USER_ITEMS))
        .otherwise(problems_of(NON_USER_ITEMS))
    )


def _group(
    options: CommitmentOptions, cuts: CutPoints, *, user: pl.Expr, non_user: pl.Expr
) -> pl.Expr:
    margin, points = pl.col("margin"), pl.col("score")
    return (
        pl.when(user & _sudden_defection(options))
        .then(pl.lit("Convertible"))
        .when(user & (points >= cuts.entrenched_from))
        .then(pl.lit("Entrenched"))
        .when(user & (points >= cuts.average_from))
        .then(pl.lit("Average"))
        .when(user & (points >= cuts.shallow_from))
        .then(pl.lit("Shallow"))
        .when(user)
        .then(pl.lit("Convertible"))
        .when(non_user & (margin >= options.available_from))
        .then(pl.lit("Available"))
        .when(non_user & (margin >= options.ambivalent_from))
        .then(pl.lit("Ambivalent"))
        .when(non_user & (margin >= options.weakly_unavailable_from))
        .then(pl.lit("Weakly unavailable"))
        .when(non_user)
        .then(pl.lit("Strongly unavailable"))
        .cast(Group)
        .alias("group")
    )


def _sudden_defection(options: CommitmentOptions) -> pl.Expr:
    """Low margin with high involvement: Convertible whatever the score."""
    return (pl.col("margin") <= options.low_margin) & (
        pl.col("involvement") >= options.high_involvement
    )


def _show(value: pl.Expr) -> pl.Expr:
    """An answer as a person writes it: 4, 4.5."""
    whole = value == value.round(0)
    return (
        pl.when(whole)
        .then(value.round(0).cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(_decimal(value))
    )


def _decimal(value: pl.Expr, digits: int = 1) -> pl.Expr:
    # Adding 0.0 turns -0.0 into 0.0.
    return (value.round(digits) + 0.0).cast(pl.String)


def _reason(
    options: CommitmentOptions, cuts: CutPoints, *, user: pl.Expr, non_user: pl.Expr
) -> pl.Expr:
    item = options.item
    group, margin = pl.col("group"), pl.col("margin")

    def out_of(key: CommitmentItemKey) -> pl.Expr:
        return pl.format(f"{{}}/{item(key).scale_max:g}", _show(pl.col(key)))

    def cut(value: float) -> str:
        return f"{round(value, 2):g}"

    answers = pl.format(
        "margin {}, involvement {}, considering switching {}",
        _decimal(margin),
        out_of("involvement"),
        out_of("considering_switching"),
    )
    standing = (
        pl.when(group == "Entrenched")
        .then(pl.lit(f"at or above {cut(cuts.entrenched_from)}"))
        .when(group == "Average")
        .then(pl.lit(f"from {cut(cuts.average_from)} to below {cut(cuts.entrenched_from)}"))
        .when(group == "Shallow")
        .then(pl.lit(f"from {cut(cuts.shallow_from)} to below {cut(cuts.average_from)}"))
        .otherwise(pl.lit(f"below {cut(cuts.shallow_from)}"))
    )
    held_by_lock_in = pl.when(
        group.is_in(["Entrenched", "Average"]) & (pl.col("affective") < LIKING_MIDPOINT)
    ).then(
        pl.format(
            "; held by lock-in more than liking: likes us {}/10, best alternative {}/10",
            _decimal(pl.col("affective") * POINTS),
            _decimal(_points(item("best_alternative"))),
        )
    )
    by_score = pl.concat_str(
        [
            pl.format(
                "{}: score {} is {} ({})", group, _decimal(pl.col("score"), 2), standing, answers
            ),
            held_by_lock_in,
        ],
        ignore_nulls=True,
    )
    rated = (
        pl.when(margin < 0)
        .then(pl.lit("higher than"))
        .when(margin == 0)
        .then(pl.lit("as high as"))
        .otherwise(pl.lit("nearly as high as"))
    )
    sudden = pl.format(
        "Convertible: rates an alternative {} us (margin {}) and cares which brand "
        "(involvement {})",
        rated,
        _decimal(margin),
        out_of("involvement"),
    )
    difference = pl.when(margin > 0).then(pl.lit("+")).otherwise(pl.lit("")) + _decimal(margin)
    comparison = pl.format(
        "{}: rates us {} against {} for their current brand (difference {})",
        group,
        out_of("rating_brand"),
        out_of("rating_current"),
        difference,
    )
    return (
        pl.when(user & _sudden_defection(options))
        .then(sudden)
        .when(user)
        .then(by_score)
        .when(non_user)
        .then(comparison)
        .otherwise(pl.format("Not scored: {}", pl.col("_problems")))
        .alias("reason")
    )
