"""Commitment scoring, worked by hand: every group, every boundary, and the options that steer it.

Default weights: z = 0.5 + 0.6 * margin + 1.0 * involvement01 - 2.0 * ambivalence01, where
involvement01 = (involvement - 1) / 4 and ambivalence01 = (considering switching - 1) / 4;
score = 1 / (1 + e^-z). Margin = mean(satisfaction, emotional fit) - best alternative.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from regard.commitment.scoring import CutPoints, cut_points, score
from regard.config import CommitmentOptions, LogisticWeights, SurveyItem, load_brand_config
from regard.errors import ConfigurationError, InvalidInput

SCHEMA = {
    "customer_id": pl.Int64,
    "is_user": pl.Boolean,
    "satisfaction": pl.Float64,
    "emotional_fit": pl.Float64,
    "best_alternative": pl.Float64,
    "involvement": pl.Float64,
    "considering_switching": pl.Float64,
    "rating_brand": pl.Float64,
    "rating_current": pl.Float64,
}
DEFAULTS = CommitmentOptions()
CUTS = CutPoints(0.3, 0.5, 0.8)

Answer = float | None


def user(
    satisfaction: Answer,
    emotional_fit: Answer,
    best_alternative: Answer,
    involvement: Answer,
    considering_switching: Answer,
) -> dict[str, object]:
    return {
        "is_user": True,
        "satisfaction": satisfaction,
        "emotional_fit": emotional_fit,
        "best_alternative": best_alternative,
        "involvement": involvement,
        "considering_switching": considering_switching,
    }


def non_user(rating_brand: Answer, rating_current: Answer) -> dict[str, object]:
    return {"is_user": False, "rating_brand": rating_brand, "rating_current": rating_current}


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(
        [{**dict.fromkeys(SCHEMA), "customer_id": n, **row} for n, row in enumerate(rows, 1)],
        schema=SCHEMA,
    )


def one(
    row: dict[str, object],
    *,
    options: CommitmentOptions = DEFAULTS,
    cuts: CutPoints | None = CUTS,
) -> dict[str, object]:
    return score(frame(row), options, cuts=cuts).row(0, named=True)


def logistic(z: float) -> float:
    return 1 / (1 + math.exp(-z))


# --- one customer per group -------------------------------------------------------------------


def test_entrenched() -> None:
    # margin = (9 + 9) / 2 - 4 = 5; involvement01 = (5 - 1) / 4 = 1; ambivalence01 = 0
    # z = 0.5 + 0.6 * 5 + 1.0 * 1 - 2.0 * 0 = 4.5; score = 1 / (1 + e^-4.5) = 0.98901 >= 0.8
    result = one(user(9, 9, 4, 5, 1))

    assert result["margin"] == 5.0
    assert result["score"] == pytest.approx(0.98901, abs=1e-5)
    assert result["group"] == "Entrenched"
    assert result["affective"] == pytest.approx(0.9)
    assert result["lock_in"] == pytest.approx(0.6)
    assert result["ambivalence"] == 0.0
    assert result["reason"] == (
        "Entrenched: score 0.99 is at or above 0.8 "
        "(margin 5.0, involvement 5/5, considering switching 1/5)"
    )


def test_average() -> None:
    # margin = 7 - 6 = 1; involvement01 = 0.5; ambivalence01 = (2 - 1) / 4 = 0.25
    # z = 0.5 + 0.6 * 1 + 1.0 * 0.5 - 2.0 * 0.25 = 1.1
    # score = 1 / (1 + e^-1.1) = 0.75026, in [0.5, 0.8)
    result = one(user(7, 7, 6, 3, 2))

    assert result["score"] == pytest.approx(0.75026, abs=1e-5)
    assert result["group"] == "Average"
    assert result["reason"] == (
        "Average: score 0.75 is from 0.5 to below 0.8 "
        "(margin 1.0, involvement 3/5, considering switching 2/5)"
    )


def test_shallow() -> None:
    # margin = (5 + 6) / 2 - 6 = -0.5 (low, but involvement 2 is not high)
    # z = 0.5 + 0.6 * -0.5 + 1.0 * 0.25 - 2.0 * 0.5 = -0.55; score = 0.36586, in [0.3, 0.5)
    result = one(user(5, 6, 6, 2, 3))

    assert result["margin"] == -0.5
    assert result["score"] == pytest.approx(0.36586, abs=1e-5)
    assert result["group"] == "Shallow"
    assert str(result["reason"]).startswith("Shallow: score 0.37 is from 0.3 to below 0.5")


def test_convertible_by_score() -> None:
    # margin = (3 + 2) / 2 - 7 = -4.5; involvement01 = 0; ambivalence01 = 1
    # z = 0.5 + 0.6 * -4.5 + 0 - 2.0 * 1 = -4.2; score = 1 / (1 + e^4.2) = 0.01477 < 0.3
    result = one(user(3, 2, 7, 1, 5))

    assert result["score"] == pytest.approx(0.01477, abs=1e-5)
    assert result["group"] == "Convertible"
    assert str(result["reason"]).startswith("Convertible: score 0.01 is below 0.3")


def test_low_margin_with_high_involvement_is_convertible_whatever_the_score() -> None:
    # margin = 8 - 9 = -1; z = 0.5 - 0.6 + 1.0 - 0 = 0.9; score = 0.71095 (Average by score)
    result = one(user(8, 8, 9, 5, 1))

    assert result["score"] == pytest.approx(0.71095, abs=1e-5)
    assert result["group"] == "Convertible"
    assert result["reason"] == (
        "Convertible: rates an alternative higher than us (margin -1.0) "
        "and cares which brand (involvement 5/5)"
    )


def test_lock_in_is_kept_apart_from_liking() -> None:
    # Likes us little, (3 + 4) / 2 = 3.5, but the best alternative is 1: margin 2.5
    # z = 0.5 + 0.6 * 2.5 + 1.0 * 0.75 - 0 = 2.75; score = 0.93991: Entrenched, by lock-in
    result = one(user(3, 4, 1, 4, 1))

    assert result["group"] == "Entrenched"
    assert result["score"] == pytest.approx(0.93991, abs=1e-5)
    assert result["affective"] == pytest.approx(0.35)
    assert result["lock_in"] == pytest.approx(0.9)
    assert str(result["reason"]).endswith(
        "; held by lock-in more than liking: likes us 3.5/10, best alternative 1.0/10"
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "difference", "group"),
    [
        (8, 6, 2.0, "Available"),  # 8 - 6 = +2 >= 1
        (6, 6, 0.0, "Ambivalent"),  # -1 <= 0 < 1
        (5, 8, -3.0, "Weakly unavailable"),  # -4 <= -3 < -1
        (2, 9, -7.0, "Strongly unavailable"),  # -7 < -4
    ],
)
def test_non_user_groups(ours: float, theirs: float, difference: float, group: str) -> None:
    result = one(non_user(ours, theirs))

    assert result["margin"] == difference
    assert result["group"] == group
    assert result["score"] is None
    assert result["lock_in"] is None
    assert result["affective"] == pytest.approx(ours / 10)


def test_a_non_user_reason_shows_both_ratings() -> None:
    assert one(non_user(8, 6))["reason"] == (
        "Available: rates us 8/10 against 6/10 for their current brand (difference +2.0)"
    )


# --- boundaries -------------------------------------------------------------------------------

# (5 + 5) / 2 - best alternative, with involvement 3 and considering switching 3:
# z = 0.5 + 0.6 * margin + 0.5 - 1.0 = 0.6 * margin.
BELOW = user(5, 5, 5.5, 3, 3)  # margin -0.5: z = -0.3, score 0.42556
AT = user(5, 5, 5, 3, 3)  # margin 0: z = 0, score exactly 0.5
ABOVE = user(5, 5, 4.5, 3, 3)  # margin 0.5: z = 0.3, score 0.57444


@pytest.mark.parametrize(
    ("cuts", "below", "upper"),
    [
        (CutPoints(0.2, 0.3, 0.5), "Average", "Entrenched"),
        (CutPoints(0.2, 0.5, 0.8), "Shallow", "Average"),
        (CutPoints(0.5, 0.6, 0.8), "Convertible", "Shallow"),
    ],
)
def test_a_score_at_a_cut_point_is_in_the_higher_group(
    cuts: CutPoints, below: str, upper: str
) -> None:
    result = score(frame(BELOW, AT, ABOVE), DEFAULTS, cuts=cuts)

    assert result.get_column("score").to_list() == pytest.approx(
        [logistic(-0.3), 0.5, logistic(0.3)]
    )
    assert result.get_column("score")[1] == 0.5
    assert result.get_column("group").to_list() == [below, upper, upper]


@pytest.mark.parametrize(
    ("best_alternative", "involvement", "group"),
    [
        # margin 0.5 is not low: z = 0.5 + 0.3 + 0.75 = 1.55, score 0.82491 >= 0.8
        (7.5, 4, "Entrenched"),
        (8, 4, "Convertible"),  # margin 0 = low_margin, involvement 4 = high_involvement
        (8.5, 4, "Convertible"),  # margin -0.5
        # involvement 3.5 is not high: z = 0.5 + 0 + 0.625 = 1.125, score 0.75491
        (8, 3.5, "Average"),
        (8, 5, "Convertible"),
    ],
)
def test_the_sudden_defection_boundaries(
    best_alternative: float, involvement: float, group: str
) -> None:
    assert one(user(8, 8, best_alternative, involvement, 1))["group"] == group


@pytest.mark.parametrize(
    ("ours", "group"),
    [
        # against a current brand rated 5: thresholds -4, -1 and 1
        (0.5, "Strongly unavailable"),  # -4.5
        (1, "Weakly unavailable"),  # -4
        (1.5, "Weakly unavailable"),  # -3.5
        (3.5, "Weakly unavailable"),  # -1.5
        (4, "Ambivalent"),  # -1
        (4.5, "Ambivalent"),  # -0.5
        (5.5, "Ambivalent"),  # 0.5
        (6, "Available"),  # 1
        (6.5, "Available"),  # 1.5
    ],
)
def test_the_non_user_boundaries(ours: float, group: str) -> None:
    assert one(non_user(ours, 5))["group"] == group


# --- what cannot be scored --------------------------------------------------------------------


def test_rows_with_missing_or_impossible_answers_are_not_grouped() -> None:
    result = score(
        frame(
            user(9, None, 4, 7, 1),
            non_user(8, float("nan")),
            {**user(9, 9, 4, 5, 1), "is_user": None},
        ),
        DEFAULTS,
        cuts=CUTS,
    )

    assert result.get_column("group").to_list() == [None, None, None]
    assert result.get_column("score").to_list() == [None, None, None]
    assert result.get_column("reason").to_list() == [
        "Not scored: no answer to emotional fit, involvement 7 is outside its scale 1-5",
        "Not scored: no answer to rating of their current brand",
        "Not scored: not known whether a user of the brand",
    ]


def test_a_frame_without_the_item_columns_is_refused() -> None:
    with pytest.raises(InvalidInput, match="rating_brand, rating_current"):
        score(frame(user(9, 9, 4, 5, 1)).drop("rating_brand", "rating_current"), DEFAULTS)


# --- cut points -------------------------------------------------------------------------------


def test_cut_points_default_to_the_quartiles_of_the_scored() -> None:
    # positions (5 - 1) * 0.25, 0.5, 0.75 = 1, 2, 3 of the sorted scores
    scores = pl.Series([0.5, 0.1, None, 0.4, 0.2, 0.3])
    assert cut_points(scores, DEFAULTS) == pytest.approx((0.2, 0.3, 0.4))
    # between neighbours, linearly: position 0.75 -> 0.075, 1.5 -> 0.15, 2.25 -> 0.4
    assert cut_points(pl.Series([0.0, 0.1, 0.2, 1.0]), DEFAULTS) == pytest.approx(
        (0.075, 0.15, 0.4)
    )


def test_configured_cut_points_win_over_quartiles() -> None:
    options = CommitmentOptions(cut_points=(0.3, 0.5, 0.8))
    assert cut_points(pl.Series([0.9, 0.95]), options) == (0.3, 0.5, 0.8)


def test_no_scored_users_have_no_quartiles() -> None:
    with pytest.raises(InvalidInput, match="cut_points"):
        cut_points(pl.Series([None], dtype=pl.Float64), DEFAULTS)


def test_scoring_cuts_the_scored_users_at_their_quartiles() -> None:
    users = [user(9, 9, 4, 5, 1), user(7, 7, 6, 3, 2), user(5, 6, 6, 2, 3), user(3, 2, 7, 1, 5)]
    # scores 0.98901, 0.75026, 0.36586, 0.01477; positions 0.75, 1.5, 2.25 of the sorted four:
    # 0.01477 + 0.75 * (0.36586 - 0.01477) = 0.27809
    # (0.36586 + 0.75026) / 2 = 0.55806
    # 0.75026 + 0.25 * (0.98901 - 0.75026) = 0.80995
    # Non-users and unanswered rows are not part of the base.
    result = score(frame(*users, non_user(8, 6), user(None, 9, 4, 5, 1)), DEFAULTS)

    assert result.get_column("group").to_list() == [
        "Entrenched",
        "Average",
        "Shallow",
        "Convertible",
        "Available",
        None,
    ]
    assert "below 0.28" in str(result.get_column("reason")[3])
    assert "from 0.56 to below 0.81" in str(result.get_column("reason")[1])


def test_only_non_users_need_no_cut_points() -> None:
    assert score(frame(non_user(8, 6)), DEFAULTS).get_column("group").to_list() == ["Available"]


# --- properties -------------------------------------------------------------------------------

half_steps = st.integers(min_value=0, max_value=20).map(lambda n: n / 2)
involvement_answers = st.integers(min_value=2, max_value=10).map(lambda n: n / 2)


@given(
    satisfaction=half_steps,
    emotional_fit=half_steps,
    alternatives=st.lists(half_steps, min_size=2, max_size=2, unique=True),
    involvement=involvement_answers,
    considering=involvement_answers,
)
def test_the_score_rises_with_the_margin(
    satisfaction: float,
    emotional_fit: float,
    alternatives: list[float],
    involvement: float,
    considering: float,
) -> None:
    worse, better = sorted(alternatives, reverse=True)
    result = score(
        frame(
            user(satisfaction, emotional_fit, worse, involvement, considering),
            user(satisfaction, emotional_fit, better, involvement, considering),
        ),
        DEFAULTS,
        cuts=CUTS,
    )
    low, high = result.get_column("margin").to_list()
    assert low < high
    lower, higher = result.get_column("score").to_list()
    assert lower < higher


@given(
    liking=half_steps,
    gap=st.integers(min_value=0, max_value=20).map(lambda n: n / 2),
    involvement=st.sampled_from([4.0, 4.5, 5.0]),
    considering=involvement_answers,
    cuts=st.lists(st.floats(min_value=0, max_value=1), min_size=3, max_size=3, unique=True).map(
        sorted
    ),
)
def test_low_margin_with_high_involvement_is_always_convertible(
    liking: float, gap: float, involvement: float, considering: float, cuts: list[float]
) -> None:
    best_alternative = min(liking + gap, 10.0)  # margin = liking - best_alternative <= 0
    result = one(
        user(liking, liking, best_alternative, involvement, considering),
        cuts=CutPoints(*cuts),
    )
    assert result["group"] == "Convertible"


# --- options ----------------------------------------------------------------------------------


def brand_file(tmp_path: Path, commitment: str) -> Path:
    path = tmp_path / "regard.toml"
    path.write_text(f'name = "Shop"\n\n[commitment]\n{commitment}', encoding="utf-8")
    return path


def test_a_brand_may_reword_one_item_and_move_the_thresholds(tmp_path: Path) -> None:
    brand = load_brand_config(
        brand_file(
            tmp_path,
            "cut_points = [0.3, 0.5, 0.8]\nhigh_involvement = 6\n"
            "[commitment.weights]\nmargin = 0.8\n"
            '[[commitment.items]]\nkey = "involvement"\nscale_max = 7\n',
        )
    )
    options = brand.commitment

    assert options.cut_points == (0.3, 0.5, 0.8)
    assert options.weights.margin == 0.8
    assert options.weights.intercept == 0.5
    assert options.item("involvement").scale_max == 7
    assert options.item("involvement").wording.startswith("How much does it matter")
    assert options.item("satisfaction").scale_max == 10
    assert len(options.items) == 7
    assert options.item("rating_current").asked_of == "non-users"


def test_a_seven_point_involvement_scale_is_read_on_its_own_scale() -> None:
    options = CommitmentOptions.model_validate(
        {"items": [{"key": "involvement", "scale_max": 7}], "high_involvement": 6}
    )
    # involvement01 = (7 - 1) / 6 = 1: z = 0.5 + 0.6 * 5 + 1.0 - 0 = 4.5, as on a 1-5 scale
    assert one(user(9, 9, 4, 7, 1), options=options)["score"] == pytest.approx(logistic(4.5))
    assert one(user(8, 8, 8, 5, 1), options=options)["group"] == "Average"  # 5 < 6: not high
    assert one(user(8, 8, 8, 6, 1), options=options)["group"] == "Convertible"


@pytest.mark.parametrize(
    ("commitment", "says"),
    [
        ("cut_points = [0.5, 0.4, 0.8]\n", "commitment.cut_points: Value error, cut_points must"),
        ("cut_points = [0.5, 0.6, 1.5]\n", "commitment.cut_points: Value error, cut_points are"),
        ("[commitment.weights]\nmargin = inf\n", "commitment.weights.margin: Input should be"),
        ("[commitment.weights]\nintercept = nan\n", "commitment.weights.intercept: Input should"),
        ("[commitment.weights]\nmargin = -0.6\n", "commitment.weights.margin: Input should be"),
        ("available_from = -2\n", "ambivalent_from < available_from"),
        ("high_involvement = 9\n", "high_involvement (9) must lie on the involvement scale"),
        ('[[commitment.items]]\nkey = "loyalty"\n', "commitment.items.0.key"),
        (
            '[[commitment.items]]\nkey = "involvement"\nscale_min = 5\n',
            "involvement: scale_max (5) must be above scale_min (5)",
        ),
        (
            '[[commitment.items]]\nkey = "involvement"\n'
            '[[commitment.items]]\nkey = "involvement"\n',
            "survey item involvement listed twice",
        ),
        ("low_margins = 0\n", "commitment.low_margins: Extra inputs"),
    ],
)
def test_options_name_what_is_wrong(tmp_path: Path, commitment: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_brand_config(brand_file(tmp_path, commitment))
    assert says in raised.value.message


def test_every_commitment_setting_is_documented() -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "commitment.md").read_text(
        encoding="utf-8"
    )
    fields = [*CommitmentOptions.model_fields, *LogisticWeights.model_fields]
    fields += [*SurveyItem.model_fields, *(item.key for item in DEFAULTS.items)]
    assert [name for name in fields if name not in documented] == []
