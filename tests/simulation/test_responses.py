"""Each response model moves the way its documentation says, other things equal."""

from __future__ import annotations

import numpy as np

from regard.simulation import responses
from regard.simulation.scenario import ResponseSettings

SETTINGS = ResponseSettings()


def _chances(**changed: float) -> responses.MessageChances:
    given = {
        "relevance": 0.5,
        "commitment": 0.5,
        "fatigue": 0.0,
        "quiet": 0.0,
        "reading_hour": 0.0,
        "base_engagement": 0.2,
        **changed,
    }
    return responses.message_chances(
        **{k: np.array([v]) for k, v in given.items()}, settings=SETTINGS
    )


def test_fatigue_is_zero_within_tolerance_and_grows_beyond_it() -> None:
    got = responses.fatigue(np.array([1, 3, 6]), np.array([3.0, 3.0, 3.0]))
    assert got.tolist() == [0.0, 0.0, 1.0]


def test_more_fatigue_more_opt_outs_and_complaints_less_engagement() -> None:
    rested, tired = _chances(fatigue=0.0), _chances(fatigue=2.0)
    assert tired.opt_out[0] > rested.opt_out[0]
    assert tired.complain[0] > rested.complain[0]
    assert tired.engage[0] < rested.engage[0]
    assert tired.annoyance[0] > rested.annoyance[0]


def test_irrelevance_annoys_and_relevance_engages() -> None:
    relevant, irrelevant = _chances(relevance=0.9), _chances(relevance=0.1)
    assert irrelevant.opt_out[0] > relevant.opt_out[0]
    assert irrelevant.complain[0] > relevant.complain[0]
    assert relevant.engage[0] > irrelevant.engage[0]


def test_quiet_hours_violations_annoy() -> None:
    awake, asleep = _chances(quiet=0.0), _chances(quiet=1.0)
    assert asleep.opt_out[0] > awake.opt_out[0]
    assert asleep.engage[0] < awake.engage[0]


def test_committed_customers_forgive_more_and_engage_more() -> None:
    loyal, wavering = _chances(commitment=0.9), _chances(commitment=0.1)
    assert loyal.opt_out[0] < wavering.opt_out[0]
    assert loyal.engage[0] > wavering.engage[0]


def test_outcomes_follow_the_draws_in_order() -> None:
    chances = responses.MessageChances(
        engage=np.full(4, 0.5),
        complain=np.full(4, 0.1),
        opt_out=np.full(4, 0.1),
        annoyance=np.zeros(4),
    )
    got = responses.message_outcomes(chances, np.array([0.1, 0.55, 0.65, 0.9]))
    assert got.tolist() == [
        responses.ENGAGED,
        responses.COMPLAINED,
        responses.OPTED_OUT,
        responses.IGNORED,
    ]


def _rate(**changed: float) -> float:
    given = {"relevant_engagement": 0.0, "annoyance": 0.0, "commitment": 0.5, **changed}
    return float(
        responses.purchase_rate(
            base_rate=np.array([0.1]),
            lapsed=np.array([False]),
            settings=SETTINGS,
            **{k: np.array([v]) for k, v in given.items()},
        )[0]
    )


def test_relevant_engagement_lifts_purchases_and_annoyance_cuts_them() -> None:
    assert _rate(relevant_engagement=2.0) > _rate() > _rate(annoyance=10.0)
    assert _rate(commitment=0.9) > _rate(commitment=0.1)


def test_lapsed_customers_buy_nothing() -> None:
    rate = responses.purchase_rate(
        base_rate=np.array([0.1]),
        commitment=np.array([1.0]),
        relevant_engagement=np.array([3.0]),
        annoyance=np.array([0.0]),
        lapsed=np.array([True]),
        settings=SETTINGS,
    )
    assert rate.tolist() == [0.0]


def test_annoyance_makes_lapsing_likelier_and_relevance_less_likely() -> None:
    def lapse(**changed: float) -> float:
        given = {"commitment": 0.5, "relevant_engagement": 0.0, "annoyance": 0.0, **changed}
        return float(
            responses.lapse_chance(
                settings=SETTINGS, **{k: np.array([v]) for k, v in given.items()}
            )[0]
        )

    assert lapse(annoyance=10.0) > lapse() > lapse(relevant_engagement=2.0)


def test_commitment_drifts_up_with_relevance_and_down_with_annoyance() -> None:
    start = np.array([0.5, 0.5, 0.5])
    moved = responses.drift_commitment(
        start,
        relevant_engagement=np.array([2.0, 0.0, 0.0]),
        annoyance=np.array([0.0, 0.0, 10.0]),
        settings=SETTINGS,
    )
    assert moved[0] > 0.5 == moved[1] > moved[2]
