"""Calibrating commitment on who lapsed: the pure fit and measures, the store read on both
databases, and ``regard commitment calibrate`` as a person runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from regard.commitment import commands, service
from regard.config import CommitmentOptions, LogisticWeights
from regard.customers.models import Customer, Event
from regard.errors import InvalidInput
from regard.segments import calibration
from regard.segments.calibration import calibrate, calibrate_store, outcomes
from regard.segments.options import RfmOptions
from regard.store.database import Store, unit_of_work
from tests.cli import Run

ANSWERED = datetime(2024, 1, 10, 12, tzinfo=UTC)
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
OPTIONS = CommitmentOptions()


def users(
    *,
    satisfaction: np.ndarray,
    best_alternative: np.ndarray,
    lapsed: np.ndarray,
    rfm_score: np.ndarray | None = None,
    involvement: np.ndarray | None = None,
    considering_switching: np.ndarray | None = None,
    responded_at: datetime = ANSWERED,
) -> pl.DataFrame:
    """Users' responses as ``calibrate`` takes them; emotional fit equals satisfaction."""
    n = len(satisfaction)
    middle = np.full(n, 3.0)
    return pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "is_user": [True] * n,
            "satisfaction": satisfaction.astype(float),
            "emotional_fit": satisfaction.astype(float),
            "involvement": (middle if involvement is None else involvement).astype(float),
            "best_alternative": best_alternative.astype(float),
            "considering_switching": (
                middle if considering_switching is None else considering_switching
            ).astype(float),
            "rating_brand": pl.Series([None] * n, dtype=pl.Float64),
            "rating_current": pl.Series([None] * n, dtype=pl.Float64),
            "responded_at": pl.Series([responded_at] * n, dtype=pl.Datetime("us", "UTC")),
            "lapsed": lapsed.astype(bool),
            "rfm_score": np.zeros(n, dtype=int) if rfm_score is None else rfm_score,
        }
    )


def margin_driven(n: int = 600, *, seed: int = 7, direction: float = 1.0) -> pl.DataFrame:
    """Staying truly depends on the margin, and mostly through the best alternative, which
    satisfaction alone does not see."""
    rng = np.random.default_rng(seed)
    satisfaction = rng.integers(5, 11, n)
    best_alternative = rng.integers(0, 11, n)
    margin = satisfaction - best_alternative
    stays = rng.random(n) < 1 / (1 + np.exp(-direction * 0.8 * margin))
    return users(
        satisfaction=satisfaction,
        best_alternative=best_alternative,
        lapsed=~stays,
        rfm_score=rng.integers(0, 16, n),
        involvement=rng.integers(1, 6, n),
        considering_switching=rng.integers(1, 6, n),
    )


def test_the_refit_predicts_a_margin_driven_outcome_better_than_satisfaction() -> None:
    found = calibrate(margin_driven(), OPTIONS, as_of=AS_OF)

    assert found.responses == 600
    assert found.too_recent == found.not_scored == 0
    assert 0 < found.lapsed < 600
    assert found.weights_refit
    assert found.notes == ()
    assert found.weights.margin > 0.4
    assert found.aucs.commitment_refit > found.aucs.satisfaction + 0.1
    assert found.aucs.commitment_refit > 0.8
    assert 0.45 < found.aucs.rfm < 0.55  # random RFM predicts nothing
    assert found.cut_points is not None
    shallow, average, entrenched = found.cut_points
    assert 0 < shallow < average < entrenched < 1
    # The snippet is valid configuration, as it would be pasted.
    pasted = CommitmentOptions(weights=found.weights, cut_points=found.cut_points)
    assert pasted.weights == found.weights
    assert f"margin = {found.weights.margin:.4f}" in found.toml()
    assert found.toml().startswith("[commitment]\ncut_points = [")


def test_the_same_sample_and_seed_give_the_same_calibration() -> None:
    assert calibrate(margin_driven(), OPTIONS, as_of=AS_OF) == calibrate(
        margin_driven(), OPTIONS, as_of=AS_OF
    )


def test_aucs_checked_by_hand() -> None:
    # 30 stayed, all with satisfaction 8 and RFM 12; 30 lapsed: 20 with satisfaction 4 and
    # RFM 3, 10 with satisfaction 8 and RFM 12. Of the 30 x 30 pairs of a stayer and a lapser,
    # satisfaction ranks the stayer higher in 30 x 20 and ties 30 x 10, a tie counting half:
    # AUC = (600 + 300 / 2) / 900 = 0.8333.
    satisfaction = np.array([8] * 30 + [4] * 20 + [8] * 10)
    rfm_score = np.array([12] * 30 + [3] * 20 + [12] * 10)
    lapsed = np.array([False] * 30 + [True] * 30)
    frame = users(
        satisfaction=satisfaction,
        best_alternative=np.full(60, 5),
        lapsed=lapsed,
        rfm_score=rfm_score,
    )

    found = calibrate(frame, OPTIONS, as_of=AS_OF)

    assert found.aucs.satisfaction == pytest.approx(750 / 900)
    assert found.aucs.rfm == pytest.approx(750 / 900)
    # The configured score rises with satisfaction alone here (all else equal): same ranking.
    assert found.aucs.commitment_configured == pytest.approx(750 / 900)
    assert found.lapse_rate == pytest.approx(0.5)
    # Two distinct scores cannot give three distinct quartiles: no cut points are proposed.
    assert found.cut_points is None
    assert "leave cut_points unset" in found.notes[0]
    assert "# cut_points: leave unset" in found.toml()


def test_a_fit_that_gives_the_margin_no_positive_weight_keeps_the_configured_weights() -> None:
    found = calibrate(margin_driven(direction=-1.0), OPTIONS, as_of=AS_OF)

    assert not found.weights_refit
    assert found.weights == LogisticWeights()
    assert "margin a weight of -" in found.notes[0]
    assert "configured weights are kept" in found.notes[0]
    assert found.aucs.commitment_configured < 0.5


def test_too_few_responses_is_refused() -> None:
    frame = margin_driven().head(49)

    with pytest.raises(InvalidInput, match=r"at least 50 users' responses .* there are 49"):
        calibrate(frame, OPTIONS, as_of=AS_OF)


def test_one_outcome_alone_is_refused() -> None:
    frame = margin_driven().with_columns(lapsed=pl.lit(False))

    with pytest.raises(InvalidInput, match=r"customers who lapsed .* 0 lapsed and 600 stayed"):
        calibrate(frame, OPTIONS, as_of=AS_OF)


def test_responses_whose_window_has_not_passed_are_left_out() -> None:
    recent = margin_driven().with_columns(
        responded_at=pl.lit(AS_OF - timedelta(days=100)).cast(pl.Datetime("us", "UTC"))
    )

    with pytest.raises(InvalidInput, match=r"there are 0 \(600 more answered too recently"):
        calibrate(recent, OPTIONS, as_of=AS_OF)

    half = pl.concat([margin_driven(), recent.head(10)])
    found = calibrate(half, OPTIONS, as_of=AS_OF)
    assert (found.responses, found.too_recent) == (600, 10)
    # A window that ends exactly at as_of has passed.
    assert calibrate(margin_driven(), OPTIONS, as_of=ANSWERED + timedelta(days=365)).too_recent == 0


def test_non_users_and_unscorable_answers_are_left_out() -> None:
    frame = margin_driven()
    odd = frame.head(3).with_columns(is_user=pl.Series([False, True, True]))
    odd = odd.with_columns(satisfaction=pl.Series([8.0, None, 14.0]))

    found = calibrate(pl.concat([frame, odd]), OPTIONS, as_of=AS_OF)

    assert (found.responses, found.not_scored) == (600, 3)


def purchases(*rows: tuple[int, datetime, float]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64(),
            "occurred_at": pl.Datetime("us", "UTC"),
            "amount": pl.Float64(),
        },
        orient="row",
    )


def test_outcomes_lapsed_is_no_purchase_within_the_window_after_answering() -> None:
    day = timedelta(days=1)
    responses = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "responded_at": pl.Series([ANSWERED] * 5, dtype=pl.Datetime("us", "UTC")),
        }
    )
    bought = purchases(
        (1, ANSWERED - 10 * day, 20.0),
        (1, ANSWERED + 30 * day, 20.0),  # bought again: stayed
        (2, ANSWERED - 10 * day, 20.0),  # bought only before: lapsed
        (3, ANSWERED + 365 * day, 20.0),  # on the window's last moment: stayed
        (4, ANSWERED + 366 * day, 20.0),  # after it: lapsed
        (5, ANSWERED, 20.0),  # as they answered: before, so lapsed
    )

    found = outcomes(responses, bought, window_days=365, rfm_options=RfmOptions())

    assert found.get_column("lapsed").to_list() == [False, True, False, True, True]
    assert found.columns == ["customer_id", "responded_at", "rfm_score", "lapsed"]


def test_outcomes_rfm_is_as_each_customer_stood_when_they_answered() -> None:
    day = timedelta(days=1)
    later = ANSWERED + 200 * day
    responses = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "responded_at": pl.Series(
                [ANSWERED, ANSWERED, later, ANSWERED], dtype=pl.Datetime("us", "UTC")
            ),
        }
    )
    bought = purchases(
        # The best history when answering: recent, twice, 100 in all.
        (1, ANSWERED - 5 * day, 50.0),
        (1, ANSWERED - 40 * day, 50.0),
        # The worst when answering; then a great deal after it, which must not count.
        (2, ANSWERED - 300 * day, 10.0),
        *((2, ANSWERED + k * day, 500.0) for k in range(1, 10)),
        # Answered 200 days later, bought 100 days before that: as of one calendar date its
        # purchase would look more recent than 1's; as of each answer it is less.
        (3, later - 100 * day, 30.0),
    )

    found = outcomes(responses, bought, window_days=365, rfm_options=RfmOptions())

    # Three who bought: quintile scores 5, 4 and 2 (ceil(5 x rank / 3)); 4 bought nothing.
    assert found.get_column("rfm_score").to_list() == [15, 6, 12, 0]


def test_outcomes_without_a_purchase_in_the_rfm_window_score_zero() -> None:
    responses = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "responded_at": pl.Series([ANSWERED] * 2, dtype=pl.Datetime("us", "UTC")),
        }
    )
    bought = purchases((1, ANSWERED - timedelta(days=3), 10.0))

    found = outcomes(responses, bought, window_days=365, rfm_options=RfmOptions())

    assert found.get_column("rfm_score").to_list() == [15, 0]


# The store: customers, their answers and their purchases, as the import and tracking make them.


def seed(store: Store, *, n: int = 70, seed: int = 3) -> dict[str, int]:
    """``n`` users answered at ANSWERED; those with a good margin mostly bought again within a
    year. Plus: one customer with an old and a recent response, one who answered only recently,
    one non-user, and one response after AS_OF. Returns a few customers' ids by role."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    with unit_of_work(store) as session:
        people = [Customer(created_at=now, updated_at=now) for _ in range(n + 3)]
        session.add_all(people)
        session.flush()
        ids = [person.id for person in people]
        message = 0

        def purchase(customer_id: int, at: datetime, amount: float) -> None:
            nonlocal message
            message += 1
            session.add(
                Event(
                    customer_id=customer_id,
                    type="order_completed",
                    occurred_at=at,
                    received_at=now,
                    source="shop",
                    message_id=f"order-{message}",
                    properties={"amount": amount},
                )
            )

        def answer(customer_id: int, at: datetime, *, margin: int, is_user: bool = True) -> None:
            answers = (
                {
                    "satisfaction": 7,
                    "emotional_fit": 7,
                    "involvement": 3,
                    "best_alternative": 7 - margin,
                    "considering_switching": 3,
                }
                if is_user
                else {"rating_brand": 6, "rating_current": 7}
            )
            service.record_response(
                session,
                customer_id,
                brand=store.brand,
                is_user=is_user,
                answers=answers,
                free_text=None,
                source="import",
                responded_at=at,
            )

        for index, cid in enumerate(ids[:n]):
            margin = int(rng.integers(-3, 8))
            answer(cid, ANSWERED, margin=margin)
            purchase(cid, ANSWERED - timedelta(days=int(rng.integers(5, 200))), 40.0)
            stays = rng.random() < (0.9 if margin >= 2 else 0.2)
            if stays or index < 5:  # at least five of each
                purchase(cid, ANSWERED + timedelta(days=int(rng.integers(1, 300))), 60.0)
        twice, recent, outsider = ids[n:]
        answer(twice, ANSWERED - timedelta(days=30), margin=6)
        answer(twice, AS_OF - timedelta(days=10), margin=-3)
        answer(twice, AS_OF + timedelta(days=1), margin=-3)  # after as_of: not yet known
        purchase(twice, ANSWERED, 10.0)
        answer(recent, AS_OF - timedelta(days=20), margin=5)
        answer(outsider, ANSWERED, margin=0, is_user=False)
    return {"twice": twice, "recent": recent, "outsider": outsider}


def test_calibrate_store_reads_one_response_per_customer_and_the_purchases(store: Store) -> None:
    roles = seed(store)

    with unit_of_work(store) as session:
        frame = calibration.respondents_frame(session, as_of=AS_OF, window_days=365)
        found = calibrate_store(session, brand=store.brand, as_of=AS_OF)

    chosen = {row["customer_id"]: row for row in frame.iter_rows(named=True)}
    assert len(chosen) == 73
    # The old response, whose window has passed, not the recent or the future one.
    assert chosen[roles["twice"]]["best_alternative"] == 1.0
    assert chosen[roles["twice"]]["responded_at"] == ANSWERED - timedelta(days=30)
    assert chosen[roles["recent"]]["responded_at"] == AS_OF - timedelta(days=20)
    assert (found.responses, found.too_recent, found.not_scored) == (71, 1, 1)
    assert found.lapsed >= 5
    assert found.responses - found.lapsed >= 5
    assert found.weights_refit
    assert found.weights.margin > 0
    assert found.aucs.commitment_refit > 0.7
    assert found.aucs.commitment_configured > found.aucs.satisfaction  # satisfaction is constant


def test_calibrate_store_on_an_empty_store_says_what_is_missing(store: Store) -> None:
    with (
        unit_of_work(store) as session,
        pytest.raises(InvalidInput, match="at least 50 users' responses"),
    ):
        calibrate_store(session, brand=store.brand, as_of=AS_OF)


def test_the_command_prints_the_aucs_and_a_snippet_and_changes_no_config(
    cli: Run, cli_store: Store, tmp_path: Path
) -> None:
    seed(cli_store)
    config = tmp_path / "regard.toml"
    before = config.read_text(encoding="utf-8")
    written = tmp_path / "calibrated.toml"

    done = cli(
        "commitment",
        "calibrate",
        "--as-of",
        AS_OF.isoformat(),
        "--window",
        "12m",
        "--write-toml",
        str(written),
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    for predictor in (
        "commitment, configured weights",
        "commitment, refit (5-fold cross-validated)",
        "satisfaction alone",
        "RFM alone",
    ):
        assert predictor in out
    assert "71 users' responses, one per customer" in out
    assert "as of 2025-06-01 00:00 UTC" in out
    assert "within 360 days of answering" in out
    assert "Left out: 1 answered too recently" in out
    assert "[commitment.weights]" in out
    assert "cut_points = [" in out
    assert written.read_text(encoding="utf-8").startswith("[commitment]\ncut_points = [")
    assert config.read_text(encoding="utf-8") == before

    refused = cli("commitment", "calibrate", "--write-toml", str(config))
    assert refused.returncode == 2
    assert "exists" in refused.stderr
    assert config.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    ("text", "days"), [("365d", 365), ("52w", 364), ("12m", 360), ("1y", 365), (" 90d ", 90)]
)
def test_windows_are_read_in_days(text: str, days: int) -> None:
    assert commands._window_days(text) == days


@pytest.mark.parametrize("text", ["soon", "0d", "1.5y", "365", "-30d"])
def test_a_window_that_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="like 365d, 52w, 12m or 1y"):
        commands._window_days(text)
