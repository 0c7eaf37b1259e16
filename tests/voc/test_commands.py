"""``regard voc themes`` as a person runs it: counts and terms, and quotes only when asked."""

from __future__ import annotations

import pytest

from regard.store.database import Store
from tests.cli import Run
from tests.voc.support import SECRET_WORDS, SEGMENT, seed


def rows(stdout: str) -> dict[str, str]:
    return {
        line.split("│")[1].strip(): line
        for line in stdout.splitlines()
        if line.startswith("│") and line.count("│") > 2
    }


def test_themes_print_counts_trends_and_groups_without_quotes(cli: Run, cli_store: Store) -> None:
    seed(cli_store)

    done = cli("voc", "themes", "--themes", "3")

    assert done.returncode == 0, done.stderr
    assert "What matters most to you when you choose a brand? (what_matters): 18 answers" in (
        done.stdout
    )
    assert "trend 2026-01 to 2026-03" in done.stdout
    found = rows(done.stdout)
    repairs = next(line for label, line in found.items() if label.startswith("repair"))
    assert "33.3%" in repairs
    assert "Strongly unavailable 100%" in repairs
    assert "only 3 answers: too few to find themes" in done.stdout
    assert "Add --quotes to see example answers" in done.stdout
    assert "“" not in done.stdout
    assert "Fewer emails" not in done.stdout


def test_quotes_are_printed_masked_when_asked(cli: Run, cli_store: Store) -> None:
    seed(cli_store)

    done = cli("voc", "themes", "--question", "more_useful", "--quotes")

    assert done.returncode == 0, done.stderr
    assert "“Fewer emails please, call me on [phone]”" in done.stdout
    assert SECRET_WORDS not in done.stdout
    assert "what_matters" not in done.stdout


def test_filters(cli: Run, cli_store: Store) -> None:
    seed(cli_store)

    done = cli(
        "voc",
        "themes",
        "--question",
        "what_matters",
        "--segment",
        SEGMENT,
        "--group",
        "strongly unavailable",
        "--since",
        "2026-01-01",
    )

    assert done.returncode == 0, done.stderr
    assert "(what_matters): 6 answers" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--group", "Loyal"), "group: there is no commitment group 'Loyal'"),
        (("--since", "yesterday"), "since: 'yesterday' is not a date"),
    ],
)
def test_a_bad_filter_says_which(cli: Run, args: tuple[str, ...], message: str) -> None:
    done = cli("voc", "themes", *args)

    assert done.returncode != 0
    assert message in done.stdout + done.stderr
