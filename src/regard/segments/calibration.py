"""Calibrating commitment against what customers did next: refit the weights and cut points,
and say how well commitment predicts staying, beside satisfaction alone and RFM alone.

Two parts. The pure part takes frames and returns a ``Calibration``: ``outcomes`` adds to each
response whether the customer lapsed after it and their RFM score when they answered;
``calibrate`` fits and measures. The store part, ``calibrate_store``, reads the responses and
the purchases and hands them to the pure part. docs/commitment.md ("Calibration") is the
marketer's description.

Choices made here, and why:

- The outcome is *lapsed*: no purchase in the ``window_days`` after the response
  (``responded_at < occurred_at <= responded_at + window``). A response counts only once its
  window has fully passed by ``as_of``; an open window would call a customer who has simply not
  bought yet lapsed.
- One response per customer: their latest whose window has passed. Older responses of the same
  person would count them several times; a too-recent one has no outcome yet.
- The model is fitted on "stays" (not lapsed) with the three inputs ``scoring.score`` weighs
  (``scoring.logistic_inputs``), so the fitted coefficients are ``[commitment.weights]`` as
  they stand. A light ridge (scikit-learn's default, C = 1) keeps the fit finite when the
  sample separates perfectly; over 50 or more responses it hardly moves the weights.
- The margin weight must stay above 0 (commitment rises with the margin). A fit that gives 0 or
  less keeps every configured weight and says so: mixing a kept margin weight with weights
  fitted beside another margin weight would be a model nobody fitted.
- The refit model's AUC is cross-validated (stratified k-fold, the mean of the folds' AUCs), so
  it is not flattered by being measured on the responses it was fitted to. The configured score,
  satisfaction and RFM fit nothing, so they are measured on every response.
- RFM is taken as each respondent stood when they answered, ranked against the other
  respondents as they stood when they answered: each customer's purchases up to their response
  are shifted in time so the response falls on one common moment, and ``segments.rfm.rfm`` scores
  them all as of that moment. Scoring everyone as of one calendar date would either let purchases
  made after a response leak into its predictor or judge later respondents on stale history.
  The single RFM score is r + f + m (3-15); a customer with no purchase in the RFM window before
  answering scores 0, below everyone who bought.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from regard.commitment import repository
from regard.commitment.scoring import CutPoints, cut_points, logistic_inputs, score
from regard.commitment.service import ITEMS, SURVEY
from regard.config import BrandConfig, CommitmentOptions, LogisticWeights
from regard.errors import InvalidInput
from regard.segments.features import read_purchases
from regard.segments.options import RfmOptions
from regard.segments.rfm import rfm, utc_instant

DEFAULT_WINDOW_DAYS = 365
DEFAULT_FOLDS = 5
# Fewer responses than this give AUCs and weights that are mostly noise.
MIN_RESPONSES = 50
# Regularisation strength of the fit (scikit-learn's C): a light ridge, see the module docstring.
RIDGE_C = 1.0

_TIMESTAMP = pl.Datetime("us", "UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FEATURES = ("margin", "involvement", "ambivalence")


@dataclass(frozen=True)
class Aucs:
    """How well each measure ranks those who stayed above those who lapsed (0.5: no better
    than chance; 1: perfectly)."""

    commitment_configured: float
    commitment_refit: float  # cross-validated
    satisfaction: float
    rfm: float


@dataclass(frozen=True)
class Calibration:
    """Refit weights and cut points for ``[commitment]``, and how well each measure predicts
    that a customer stays."""

    as_of: datetime
    window_days: int
    folds: int
    responses: int  # users' responses counted, one per customer
    lapsed: int
    too_recent: int  # customers left out: their outcome window has not passed
    not_scored: int  # customers left out: non-users, or answers that cannot be scored
    aucs: Aucs
    weights: LogisticWeights
    # None when the refit scores bunch so that their quartiles are not distinct.
    cut_points: CutPoints | None
    weights_refit: bool  # False: the fit was invalid and the configured weights are kept
    notes: tuple[str, ...]

    @property
    def lapse_rate(self) -> float:
        return self.lapsed / self.responses

    def toml(self) -> str:
        """The refit settings, as lines to paste into regard.toml."""
        lines = ["[commitment]"]
        if self.cut_points is None:
            lines.append("# cut_points: leave unset (quartiles of the base); see the notes")
        else:
            shown = ", ".join(f"{cut:.4f}" for cut in self.cut_points)
            lines.append(f"cut_points = [{shown}]")
        lines.append("")
        lines.append("[commitment.weights]")
        for name in ("intercept", "margin", "involvement", "ambivalence"):
            lines.append(f"{name} = {getattr(self.weights, name):.4f}")
        return "\n".join(lines) + "\n"


def outcomes(
    responses: pl.DataFrame,
    purchases: pl.DataFrame,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
    rfm_options: RfmOptions,
) -> pl.DataFrame:
    """``responses`` with ``lapsed`` and ``rfm_score`` added, row for row.

    ``responses`` has ``customer_id`` and ``responded_at``; ``purchases`` is a purchases frame
    (``customer_id``, ``occurred_at``, ``amount``). ``lapsed`` is whether the customer made no
    purchase in the ``window_days`` after ``responded_at``, whether or not that window has
    passed yet (``calibrate`` leaves out the ones that have not). ``rfm_score`` is r + f + m as
    the customer stood at ``responded_at`` (see the module docstring), 0 without a purchase in
    the RFM window before it.
    """
    keyed = responses.with_row_index("_response").with_columns(
        pl.col("_response").cast(pl.Int64),
        pl.col("customer_id").cast(pl.Int64),
        pl.col("responded_at").cast(_TIMESTAMP),
    )
    theirs = keyed.select("_response", "customer_id", "responded_at").join(
        purchases.lazy().select("customer_id", "occurred_at", "amount").collect(),
        on="customer_id",
        how="inner",
    )
    window = timedelta(days=window_days)
    after = pl.col("occurred_at") > pl.col("responded_at")
    bought = theirs.group_by("_response").agg(
        (after & (pl.col("occurred_at") <= pl.col("responded_at") + window)).any().alias("_bought")
    )

    # Every response lands on one moment; each customer's earlier purchases move with it.
    latest = keyed.get_column("responded_at").max()
    moment = latest if isinstance(latest, datetime) else _EPOCH  # the epoch: no responses
    shifted = theirs.filter(~after).select(
        pl.col("_response").alias("customer_id"),
        (pl.col("occurred_at") + (pl.lit(moment) - pl.col("responded_at"))).alias("occurred_at"),
        "amount",
    )
    scores = rfm(
        shifted,
        keyed.select(pl.col("_response").alias("customer_id")),
        as_of=moment,
        options=rfm_options,
    ).select(
        pl.col("customer_id").alias("_response"),
        (pl.col("r") + pl.col("f") + pl.col("m")).cast(pl.Int64).fill_null(0).alias("rfm_score"),
    )
    return (
        keyed.join(bought, on="_response", how="left", maintain_order="left")
        .join(scores, on="_response", how="left", maintain_order="left")
        .with_columns(pl.col("_bought").fill_null(False).not_().alias("lapsed"))
        .drop("_response", "_bought")
    )


def calibrate(
    responses: pl.DataFrame,
    options: CommitmentOptions,
    *,
    as_of: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> Calibration:
    """Refit the weights and cut points on the outcome, and measure the AUCs.

    ``responses`` has one row per customer: the columns ``scoring.score`` takes, plus
    ``responded_at``, ``lapsed`` (bool) and ``rfm_score`` (as ``outcomes`` adds them). Only users
    whose answers can be scored, and whose outcome window ends by ``as_of``, count.
    ``InvalidInput`` says what is missing when too few count or they do not hold at least
    ``folds`` customers who stayed and ``folds`` who lapsed.
    """
    # Imported here: scikit-learn takes seconds to load, and every ``regard`` command would pay.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    as_of = utc_instant(as_of)
    if window_days < 1:
        raise InvalidInput("the outcome window must be at least 1 day")
    needed = [c for c in ("responded_at", "lapsed", "rfm_score") if c not in responses.columns]
    if needed:
        raise InvalidInput(f"the responses lack columns: {', '.join(needed)}")

    scored = score(responses, options, cuts=CutPoints(0.0, 0.0, 0.0))
    inputs = logistic_inputs(options)
    usable = scored.filter(pl.col("score").is_not_null()).with_columns(
        inputs.involvement.alias("involvement_unit")
    )
    not_scored = scored.height - usable.height
    ends = pl.col("responded_at").cast(_TIMESTAMP) + timedelta(days=window_days)
    counted = usable.filter((ends <= as_of) & pl.col("lapsed").is_not_null())
    too_recent = usable.height - counted.height
    _check_sample(counted, too_recent=too_recent, window_days=window_days, folds=folds)

    features = counted.select(
        "margin", pl.col("involvement_unit").alias("involvement"), "ambivalence"
    ).to_numpy()
    stays = (~counted.get_column("lapsed")).to_numpy().astype(int)
    model = LogisticRegression(C=RIDGE_C, max_iter=1000)
    refit_auc = float(
        np.mean(
            cross_val_score(
                model,
                features,
                stays,
                cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
                scoring="roc_auc",
            )
        )
    )
    model.fit(features, stays)
    # Rounded as the snippet shows them, so what is checked is what the brand pastes.
    coefficients = {
        name: round(float(value), 4)
        for name, value in zip(
            ("intercept", *_FEATURES), (model.intercept_[0], *model.coef_[0]), strict=True
        )
    }
    notes: list[str] = []
    weights_refit = coefficients["margin"] > 0 and all(map(math.isfinite, coefficients.values()))
    if weights_refit:
        weights = LogisticWeights(**coefficients)
    else:
        weights = options.weights
        notes.append(
            f"The fit gives the margin a weight of {coefficients['margin']:.3f}: in this sample "
            "staying does not rise with the margin, so the weights cannot be commitment "
            "weights. The configured weights are kept; check the outcome and the survey."
        )

    refit_scores = score(
        counted, options.model_copy(update={"weights": weights}), cuts=CutPoints(0.0, 0.0, 0.0)
    ).get_column("score")
    quartiles = cut_points(refit_scores, options.model_copy(update={"cut_points": None}))
    rounded = CutPoints(*(round(cut, 4) for cut in quartiles))
    cuts: CutPoints | None = rounded
    if not rounded.shallow_from < rounded.average_from < rounded.entrenched_from:
        notes.append(
            "The refit scores bunch so that their quartiles are not distinct "
            f"({', '.join(f'{cut:.4f}' for cut in rounded)}): leave cut_points unset."
        )
        cuts = None

    def auc(values: pl.Series) -> float:
        return float(roc_auc_score(stays, values.cast(pl.Float64).to_numpy()))

    return Calibration(
        as_of=as_of,
        window_days=window_days,
        folds=folds,
        responses=counted.height,
        lapsed=int(counted.get_column("lapsed").sum()),
        too_recent=too_recent,
        not_scored=not_scored,
        aucs=Aucs(
            commitment_configured=auc(counted.get_column("score")),
            commitment_refit=refit_auc,
            satisfaction=auc(counted.get_column("satisfaction")),
            rfm=auc(counted.get_column("rfm_score")),
        ),
        weights=weights,
        cut_points=cuts,
        weights_refit=weights_refit,
        notes=tuple(notes),
    )


def _check_sample(counted: pl.DataFrame, *, too_recent: int, window_days: int, folds: int) -> None:
    recent = (
        f" ({too_recent:,} more answered too recently for their {window_days}-day outcome "
        "window to have passed)"
        if too_recent
        else ""
    )
    if counted.height < MIN_RESPONSES:
        raise InvalidInput(
            f"calibration needs at least {MIN_RESPONSES} users' responses whose {window_days}-day "
            f"outcome window has passed; there are {counted.height:,}{recent}",
            details={"responses": counted.height, "too_recent": too_recent},
        )
    lapsed = int(counted.get_column("lapsed").sum())
    stayed = counted.height - lapsed
    if min(lapsed, stayed) < folds:
        raise InvalidInput(
            f"calibration needs at least {folds} customers who lapsed and {folds} who stayed "
            f"(a purchase within {window_days} days of answering); of {counted.height:,} "
            f"responses, {lapsed:,} lapsed and {stayed:,} stayed",
            details={"lapsed": lapsed, "stayed": stayed},
        )


def calibrate_store(
    session: Session,
    *,
    brand: BrandConfig,
    as_of: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
    folds: int = DEFAULT_FOLDS,
) -> Calibration:
    """Calibrate the brand's commitment on its stored survey responses and purchases.

    Each customer's latest response answered by ``as_of`` whose outcome window has passed is
    used; a customer whose every response is too recent is counted as left out.
    """
    as_of = utc_instant(as_of)
    responses = respondents_frame(session, as_of=as_of, window_days=window_days)
    purchases = read_purchases(session, options=brand.segments.rfm, as_of=as_of)
    framed = outcomes(responses, purchases, window_days=window_days, rfm_options=brand.segments.rfm)
    return calibrate(framed, brand.commitment, as_of=as_of, window_days=window_days, folds=folds)


def respondents_frame(session: Session, *, as_of: datetime, window_days: int) -> pl.DataFrame:
    """One response per customer answered by ``as_of``: the latest whose outcome window has
    passed, else the latest (too recent; ``calibrate`` counts it as left out).

    Columns: ``customer_id``, ``is_user``, one Float64 column per item, ``responded_at``.
    """
    rows = repository.answers_until(session, survey=SURVEY, until=as_of)
    frame = pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64(),
            "is_user": pl.Boolean(),
            "answers": pl.String(),
            "responded_at": _TIMESTAMP,
            "response_id": pl.Int64(),
        },
        orient="row",
    )
    passed = pl.col("responded_at") + timedelta(days=window_days) <= as_of
    chosen = (
        frame.sort("customer_id", passed, "responded_at", "response_id")
        .group_by("customer_id", maintain_order=True)
        .last()
    )
    answers = chosen.get_column("answers").str.json_decode(
        pl.Struct(dict.fromkeys(ITEMS, pl.Float64))
    )
    return pl.concat(
        [
            chosen.select("customer_id", "is_user"),
            answers.struct.unnest(),
            chosen.select("responded_at"),
        ],
        how="horizontal",
    )
