"""The demo brand's generated files: deterministic, overlapping, believable, broken on purpose."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import phonenumbers
import polars as pl
import pytest
from email_validator import EmailNotValidError, validate_email

from regard.config import load_brand_config
from regard.demo import catalogue
from regard.demo.columns import DAY, Clock, epoch_seconds, numbers
from regard.demo.events import EventFile, pos_events, shop_events, support_events
from regard.demo.generator import (
    BRAND_CONFIG,
    DEFAULT_UNTIL,
    HISTORY_DAYS,
    MANIFEST_NAME,
    DemoFile,
    DemoManifest,
    generate,
)
from regard.demo.people import EUR_PER_UNIT, ZONES, draw_people, valid_national_numbers

CUSTOMERS = 1500


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate(tmp_path_factory.mktemp("demo"), customers=CUSTOMERS, seed=7)


def _file(manifest: DemoManifest, kind: str, source: str) -> DemoFile:
    return next(f for f in manifest.files if f.kind == kind and f.source == source)


def _read(demo_file: DemoFile) -> pl.DataFrame:
    """Every column as the text it is written as (CSV) or its own type (Parquet, JSON)."""
    if demo_file.format == "csv":
        return pl.read_csv(demo_file.path, infer_schema=False)
    if demo_file.format == "parquet":
        return pl.read_parquet(demo_file.path)
    return pl.read_ndjson(demo_file.path, infer_schema_length=None)


def _email_ok(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _zone_ok(value: str) -> bool:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _phone(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, "NL")  # the demo brand's region
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _column(frame: pl.DataFrame, name: str) -> list[str]:
    return [v for v in frame[name].to_list() if v is not None]


# ---- determinism -----------------------------------------------------------------------------


def _contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", customers=400, seed=11)
    generate(tmp_path / "b", customers=400, seed=11)
    first, second = _contents(tmp_path / "a"), _contents(tmp_path / "b")
    assert set(first) >= {"manifest.json", "regard.toml", "shop_events.csv"}
    assert first == second


def test_a_different_seed_gives_different_data(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", customers=400, seed=11)
    other = generate(tmp_path / "b", customers=400, seed=12)
    for mine, theirs in zip(one.files, other.files, strict=True):
        assert mine.path.read_bytes() != theirs.path.read_bytes(), mine.path.name


def test_events_written_in_parts_are_the_same_as_in_one() -> None:
    end = epoch_seconds(DEFAULT_UNTIL)
    start = end - HISTORY_DAYS * DAY
    clock = Clock(ZONES, start=start - 2 * DAY, end=end + 2 * DAY)
    people = draw_people(3, 300, start=start, until=end)
    made: list[EventFile] = [
        shop_events(people, clock, 3, start=start, until=end).file,
        pos_events(people, clock, 3, until=end),
        support_events(people, clock, 3, until=end),
    ]
    for events in made:
        whole = pl.concat(list(events.parts(size=10**9)))
        pieces = list(events.parts(size=97))
        assert len(pieces) > 1
        assert pl.concat(pieces).equals(whole)


def test_ids_keep_their_width_when_made_in_parts() -> None:
    values = np.array([7, 1234, -1, 99], dtype=np.int64)
    assert numbers(values, prefix="T-").to_list() == ["T-0007", "T-1234", None, "T-0099"]
    assert numbers(values[:1], width=4).to_list() == ["0007"]


# ---- the manifest and the brand --------------------------------------------------------------


def test_the_manifest_lists_every_file_customers_first(demo: DemoManifest) -> None:
    kinds = [f.kind for f in demo.files]
    assert kinds == ["customers"] * 3 + ["events"] * 3
    assert {f.format for f in demo.files} == {"csv", "parquet", "jsonl"}
    assert {(f.kind, f.source) for f in demo.files} == {
        (kind, source) for kind in ("customers", "events") for source in ("shop", "pos", "support")
    }
    for f in demo.files:
        assert f.path.name == f"{f.source}_{f.kind}.{f.format}"
        assert _read(f).height == f.rows
    read = DemoManifest.read(demo.directory)
    assert read == demo
    assert read.matches(customers=CUSTOMERS, seed=7, until=DEFAULT_UNTIL)
    assert not read.matches(customers=CUSTOMERS + 1, seed=7, until=DEFAULT_UNTIL)
    assert (demo.directory / MANIFEST_NAME).read_text().endswith("}\n")


def test_a_manifest_whose_file_is_gone_does_not_match(tmp_path: Path) -> None:
    manifest = generate(tmp_path, customers=50, seed=1)
    manifest.files[-1].path.unlink()
    assert not manifest.matches(customers=50, seed=1, until=DEFAULT_UNTIL)
    assert DemoManifest.read(tmp_path / "nowhere") is None


def test_the_demo_brand_configuration_validates(demo: DemoManifest) -> None:
    brand = load_brand_config(demo.directory / "regard.toml")
    # The same configuration; a relative folder for files is read beside each copy.
    beside = {"delivery": {"file_dir"}}
    assert brand.model_dump(exclude=beside) == load_brand_config(BRAND_CONFIG).model_dump(
        exclude=beside
    )
    assert brand.delivery.file_dir == str(demo.directory.resolve() / "messages-out")
    assert brand.name == catalogue.BRAND_NAME
    assert set(brand.identity.source_priority) >= {"shop", "pos", "support"}
    assert "birthday" in brand.identity.personal_traits
    assert {t.importance for t in brand.topics} >= {"transactional", "promotional"}


# ---- people seen by several sources ----------------------------------------------------------


def test_sources_know_the_same_people_by_overlapping_names(demo: DemoManifest) -> None:
    shop = _read(_file(demo, "customers", "shop"))
    pos = _read(_file(demo, "customers", "pos"))
    support = _read(_file(demo, "customers", "support"))
    shop_emails = set(_column(shop, "email"))
    pos_emails = set(_column(pos, "email"))
    support_emails = {e.lower() for e in _column(support, "email")}
    assert len(shop_emails & pos_emails) > 20
    assert len(shop_emails & support_emails) > 20

    def e164(values: list[str]) -> set[str]:
        parsed = (_phone(v) for v in values)
        return {
            phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            for n in parsed
            if n is not None
        }

    assert len(e164(_column(pos, "phone")) & e164(_column(support, "phone"))) > 5
    assert len(e164(_column(shop, "phone")) & e164(_column(pos, "phone"))) > 20


def test_some_people_have_two_profiles_until_a_later_record_ties_them(
    demo: DemoManifest,
) -> None:
    shop = _read(_file(demo, "customers", "shop"))
    pos = _read(_file(demo, "customers", "pos"))
    support = _read(_file(demo, "customers", "support"))
    # Known to the shop by email only, and to the tills by phone only.
    email_only = set(shop.filter(pl.col("phone").is_null())["email"].drop_nulls().to_list())
    phone_only = {
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        for v in pos.filter(pl.col("email").is_null())["phone"].drop_nulls().to_list()
        if (n := _phone(v)) is not None
    }
    linking = [
        (email, phone)
        for email, phone in support.select("email", "phone").iter_rows()
        if email is not None
        and phone is not None
        and email.lower() in email_only
        and (n := _phone(phone)) is not None
        and phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) in phone_only
    ]
    assert demo.split_profiles > 0
    assert linking, "no support contact ties a shop-only email to a till-only phone"
    # E-receipts at the till and logins on the web tie profiles too.
    purchases = _read(_file(demo, "events", "pos"))
    assert purchases["email"].drop_nulls().len() > 0
    visits = _read(_file(demo, "events", "shop")).filter(pl.col("type") == "page_viewed")
    signed_in = visits.filter(pl.col("external_id").is_not_null())
    assert visits.filter(pl.col("external_id").is_null()).height > 0
    assert signed_in["anonymous_id"].null_count() == 0


def test_phone_numbers_are_valid_for_the_customers_country(demo: DemoManifest) -> None:
    checked = 0
    for source in ("shop", "pos"):
        frame = _read(_file(demo, "customers", source)).filter(pl.col("phone").is_not_null())
        for phone, country in frame.select("phone", "country").iter_rows():
            number = _phone(phone)
            assert number is not None, phone
            assert phonenumbers.region_code_for_number(number) == country, phone
            assert phonenumbers.is_valid_number_for_region(number, country)
            checked += 1
    assert checked > CUSTOMERS / 2
    countries = set(_read(_file(demo, "customers", "shop"))["country"].to_list())
    assert countries >= {"NL", "DE", "GB", "US", "CA", "SE"}


@pytest.mark.parametrize("region", [c.code for c in catalogue.COUNTRIES])
def test_the_column_phone_check_never_passes_an_invalid_number(region: str) -> None:
    rng = np.random.default_rng(5)
    code = phonenumbers.country_code_for_region(region)
    lengths = rng.integers(6, 12, size=400)
    candidates = ["".join(map(str, rng.integers(0, 10, size=n))) for n in lengths]
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    national = phonenumbers.national_significant_number(example)
    tail = len(national) - 3
    candidates += [national[:3] + "".join(map(str, rng.integers(0, 10, tail))) for _ in range(400)]
    # North American numbers are drawn by area code: fixed-line and mobile patterns are one.
    mobile = region not in ("US", "CA")
    passed = valid_national_numbers(region, pl.Series(candidates), mobile=mobile).to_list()
    for number, ok in zip(candidates, passed, strict=True):
        if ok:
            parsed = phonenumbers.parse(f"+{code}{number}")
            assert phonenumbers.is_valid_number_for_region(parsed, region), number
    assert sum(passed) > 50


def test_time_zones_and_timestamps_are_real(demo: DemoManifest) -> None:
    zones = available_timezones()
    shop = _read(_file(demo, "customers", "shop"))
    good = shop.filter(pl.col("time_zone").is_in(list(zones)))
    assert good["time_zone"].n_unique() >= 12
    for zone, updated in good.select("time_zone", "updated_at").iter_rows():
        moment = _moment(updated)
        assert moment is not None
        # Written in the customer's own zone, with that zone's offset at that moment.
        assert moment.utcoffset() == moment.astimezone(ZoneInfo(zone)).utcoffset()
    until = datetime.combine(DEFAULT_UNTIL, datetime.min.time(), tzinfo=UTC)
    earliest = until - timedelta(days=HISTORY_DAYS + 1)
    for f in demo.files:
        if f.kind != "events":
            continue
        stamps = [m for v in _read(f)["occurred_at"].to_list() if (m := _moment(v)) is not None]
        assert len(stamps) == f.rows - f.bad_rows
        assert all(earliest <= m <= until for m in stamps)
        # Exported in time order.
        assert stamps == sorted(stamps)


# ---- deliberately broken rows ----------------------------------------------------------------


def test_broken_rows_are_there_and_counted(demo: DemoManifest) -> None:
    shop = _read(_file(demo, "customers", "shop"))
    bad_emails = sum(not _email_ok(e) for e in _column(shop, "email"))
    bad_zones = sum(not _zone_ok(z) for z in _column(shop, "time_zone"))
    assert bad_emails >= 2
    assert bad_zones >= 2
    assert bad_emails + bad_zones == _file(demo, "customers", "shop").bad_rows

    pos = _read(_file(demo, "customers", "pos"))
    nameless = pos.filter(
        pl.all_horizontal(pl.col(c).is_null() for c in ("external_id", "phone", "email"))
    )
    assert nameless.height == _file(demo, "customers", "pos").bad_rows >= 1

    support = _read(_file(demo, "customers", "support"))
    bad = sum(not _email_ok(e) for e in _column(support, "email"))
    bad += sum(_phone(p) is None for p in _column(support, "phone"))
    assert bad == _file(demo, "customers", "support").bad_rows >= 2

    for source in ("shop", "pos", "support"):
        events = _file(demo, "events", source)
        garbled = sum(_moment(v) is None for v in _read(events)["occurred_at"].to_list())
        assert garbled == events.bad_rows >= 2


def test_the_tills_resend_a_few_receipts(demo: DemoManifest) -> None:
    purchases = _file(demo, "events", "pos")
    frame = _read(purchases)
    repeated = frame.height - frame["message_id"].n_unique()
    assert repeated == purchases.duplicate_rows >= 3
    # A re-sent receipt is the same receipt, row for row.
    assert frame.unique().height == frame.height - repeated
    for source in ("shop", "support"):
        ids = _read(_file(demo, "events", source))["message_id"]
        assert ids.n_unique() == ids.len()


# ---- what people do --------------------------------------------------------------------------


def test_spend_is_long_tailed(demo: DemoManifest) -> None:
    orders = _read(_file(demo, "events", "shop")).filter(pl.col("type") == "order_completed")
    purchases = _read(_file(demo, "events", "pos"))
    rates = pl.DataFrame({"currency": list(EUR_PER_UNIT), "rate": list(EUR_PER_UNIT.values())})
    spend = pl.concat(
        [
            orders.select(
                pl.concat_str(pl.lit("shop:"), "external_id").alias("buyer"),
                pl.col("amount").cast(pl.Float64),
                "currency",
            ),
            purchases.select(
                pl.concat_str(pl.lit("pos:"), "external_id").alias("buyer"), "amount", "currency"
            ),
        ]
    )
    per_buyer = (
        spend.join(rates, on="currency")
        .group_by("buyer")
        .agg((pl.col("amount") * pl.col("rate")).sum().alias("eur"))
        .sort("eur", descending=True)
    )
    eur = per_buyer["eur"].to_numpy()
    assert eur[: len(eur) // 10].sum() / eur.sum() > 0.4
    amounts = spend["amount"].to_numpy()
    assert (amounts > 0).all()
    assert np.median(amounts) < amounts.mean()


def test_the_event_mix_is_believable(demo: DemoManifest) -> None:
    shop = _read(_file(demo, "events", "shop"))
    types = dict(shop["type"].value_counts().iter_rows())
    assert types["page_viewed"] > types["order_completed"] > types["order_ready"] > 0
    ready = shop.filter(pl.col("type") == "order_ready")
    assert ready["store"].null_count() == 0
    assert set(ready["order_id"].to_list()) <= set(
        shop.filter(pl.col("fulfilment") == "click_and_collect")["order_id"].to_list()
    )
    support = _read(_file(demo, "events", "support"))
    assert set(support["type"].to_list()) == {"ticket_opened", "ticket_closed"}
    assert support["properties"].struct.field("ticket_id").null_count() == 0
    # Identity columns only: no email or phone hides among the properties.
    for f in demo.files:
        if f.kind == "events":
            columns = set(_read(f).columns)
            assert columns & {"email", "phone", "external_id", "anonymous_id"}
            assert not any("mail" in c or "phone" in c for c in columns - {"email", "phone"})
    assert 8 * CUSTOMERS < demo.events < 13 * CUSTOMERS


def test_row_counts_scale_with_the_number_of_customers(demo: DemoManifest, tmp_path: Path) -> None:
    small = generate(tmp_path, customers=CUSTOMERS // 3, seed=7)
    for big, little in zip(demo.files, small.files, strict=True):
        assert 2.2 < big.rows / little.rows < 4.0, big.path.name


def test_history_ends_on_the_day_asked(tmp_path: Path) -> None:
    until = date(2025, 6, 1)
    manifest = generate(tmp_path, customers=100, seed=2, until=until)
    stamps = _read(_file(manifest, "events", "shop"))["occurred_at"].to_list()
    latest = max(m for v in stamps if (m := _moment(v)) is not None)
    assert latest <= datetime(2025, 6, 1, tzinfo=UTC)
    assert latest.date() >= until - timedelta(days=30)
