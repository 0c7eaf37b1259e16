"""The demo's event files: web visits and orders, store purchases, support tickets.

Each source's events are drawn per kind as columns, laid into one table of fixed-width records,
sorted by time (as exports are), and only then turned into text. How often a person buys follows
their lognormal propensity, so spend is long-tailed: a tenth of the buyers bring in nearly half
the revenue. A few rows carry a malformed timestamp, and the tills re-send a few receipts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from regard.demo import catalogue as cat
from regard.demo.columns import (
    DAY,
    HOUR,
    Bools,
    Clock,
    Floats,
    Ints,
    between,
    fixed_text,
    numbers,
    pick,
    positions_within,
    probabilities,
    scatter,
    stream,
    take_rows,
    uuids,
    width_of,
)
from regard.demo.people import (
    CITIES,
    CITY_WEIGHT,
    CITY_ZONE,
    COUNTRY_CURRENCY,
    COUNTRY_EUR,
    CURRENCIES,
    STORE_COUNT,
    STORE_OFFSET,
    STORES,
    People,
    mistakes,
)

SHOP_EVENT_TYPES = ("page_viewed", "order_completed", "order_ready")
FULFILMENT = ("delivery", "click_and_collect")
PAYMENTS = ("card", "contactless", "cash", "gift-card")
SUPPORT_EVENT_TYPES = ("ticket_opened", "ticket_closed")
SUPPORT_CHANNELS = ("email", "phone", "chat")
PRIORITIES = ("low", "normal", "high")
PRODUCTS_PER_CATEGORY = 300

Columns = Mapping[str, npt.NDArray[Any]]


# ---- a table of events in file order ------------------------------------------------------


def _table(fields: Sequence[tuple[str, str]], parts: Sequence[Columns]) -> npt.NDArray[Any]:
    """Parts with different columns as one table of records; a column a part lacks is -1/NaN."""
    dtype = np.dtype(list(fields))
    table = np.empty(sum(len(part["utc"]) for part in parts), dtype=dtype)
    start = 0
    for part in parts:
        end = start + len(part["utc"])
        for name in dtype.names or ():
            missing = np.nan if dtype[name].kind == "f" else -1
            table[name][start:end] = part.get(name, missing)
        start = end
    return table


@dataclass
class Part:
    """Consecutive rows of an event file, ready to be turned into text."""

    table: npt.NDArray[Any]
    message: Ints
    bad: Bools
    # Broken rows before this part of the file: their garbled timestamps take turns.
    bad_before: int

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, name: str) -> Ints:
        column: Ints = self.table[name].astype(np.int64)
        return column

    @property
    def bad_rows(self) -> int:
        return int(self.bad.sum())


@dataclass
class FileRows:
    """An event file's rows: which record each shows, its message number, whether it is broken.

    The records stay as they were drawn; a part's are gathered in file order only when it is
    rendered, so the whole table is never copied.
    """

    records: npt.NDArray[Any]
    source: Ints  # the record of each row, in file order
    message: Ints
    bad: Bools
    duplicates: int

    def __len__(self) -> int:
        return len(self.source)

    @property
    def bad_rows(self) -> int:
        return int(self.bad.sum())

    def part(self, start: int, stop: int) -> Part:
        return Part(
            table=take_rows(self.records, self.source[start:stop]),
            message=self.message[start:stop],
            bad=self.bad[start:stop],
            bad_before=int(self.bad[:start].sum()),
        )


Render = Callable[[Part], pl.DataFrame]


@dataclass(frozen=True)
class EventFile:
    """A source's events in file order, turned into text a part at a time as it is written.

    Text for ten million events takes gigabytes; in parts of a million rows the same memory
    serves every part, which on a small machine saves much of the time.
    """

    rows: FileRows
    render: Render

    def parts(self, size: int = 1 << 20) -> Iterator[pl.DataFrame]:
        for start in range(0, max(len(self.rows), 1), size):
            yield self.render(self.rows.part(start, start + size))


def _in_file_order(
    rng: np.random.Generator, table: npt.NDArray[Any], *, bad: int, duplicates: int
) -> FileRows:
    """Sorted by time, with broken rows and re-sent duplicates slipped in, messages numbered.

    Message numbers follow time. A re-sent row carries its original's number, so it is a
    duplicate by ``(source, message_id)``; a broken row is a message of its own whose timestamp
    is then garbled.
    """
    size = len(table)
    bad, duplicates = min(bad, size), min(duplicates, size)
    source = np.arange(size + bad + duplicates, dtype=np.int64)
    if bad:
        source[size : size + bad] = rng.choice(size, size=bad, replace=False)
    if duplicates:
        source[size + bad :] = rng.choice(size, size=duplicates, replace=False)
    # Every row is its own message but a copy, which is its original's.
    original = np.arange(size + bad + duplicates, dtype=np.int64)
    original[size + bad :] = source[size + bad :]
    # One sort key: the instant, then the message. A copy ties with its original; either may
    # come first, as both are the same row.
    key = np.take(table["utc"], source).astype(np.int64)
    key <<= max(1, int(size + bad).bit_length())
    key |= original
    order = np.argsort(key)
    del key
    source, original = source[order], original[order]
    is_copy = order >= size + bad
    number = np.full(size + bad, -1, dtype=np.int64)
    number[original[~is_copy]] = np.arange(size + bad)
    return FileRows(
        records=table,
        source=source,
        message=number[original],
        bad=(order >= size) & ~is_copy,
        duplicates=duplicates,
    )


def _occurred_at(clock: Clock, rows: Part) -> pl.Series:
    stamps = clock.iso(rows["utc"], rows["zone"])
    garbled = cat.BAD_TIMESTAMPS
    turns = range(rows.bad_before, rows.bad_before + rows.bad_rows)
    return scatter(stamps, rows.bad, [garbled[i % len(garbled)] for i in turns])


def _message_ids(rows: Part, source: str) -> pl.Series:
    # Ten digits from 1000000001: the same width in every part of the file.
    return numbers(rows.message + 1_000_000_001, prefix=f"{source}-", width=10)


def _counts(values: Ints) -> pl.Series:
    """Small integers, negative meaning missing."""
    return pl.Series(pa.array(values, mask=values < 0), dtype=pl.Int64)


def _amount_column(values: Floats) -> pl.Series:
    return pl.Series(values).fill_nan(None)


# ---- what people buy and browse -------------------------------------------------------------


def _categories(rng: np.random.Generator, activity: Ints) -> Ints:
    """Fans of an activity buy its gear half the time, anything else the other half."""
    own = np.asarray(cat.ACTIVITY_CATEGORY, dtype=np.int64)[activity]
    other = rng.integers(0, len(cat.CATEGORIES), size=len(activity))
    result: Ints = np.where(rng.random(len(activity)) < 0.5, own, other)
    return result


def _amounts(
    rng: np.random.Generator, category: Ints, country: Ints, propensity: Floats, items: Ints
) -> Floats:
    """Prices ending in .95, in local currency; big spenders also buy the better gear."""
    base = np.asarray(cat.CATEGORY_PRICE_EUR, dtype=np.float64)[category]
    eur = base * rng.lognormal(0.0, 0.45, size=len(category)) * propensity**0.25 * items**0.85
    local = eur / COUNTRY_EUR[country]
    result: Floats = np.round(np.maximum(np.round(local) - 0.05, 4.95), 2)
    return result


def page_urls() -> tuple[str, ...]:
    """Every page of the web shop: home, categories, products, cart and stories."""
    c, shop = cat.CATEGORIES, cat.SHOP_URL
    return (
        f"{shop}/",
        *(f"{shop}/c/{name}" for name in c),
        *(f"{shop}/p/{name}/{n + 1001}" for name in c for n in range(PRODUCTS_PER_CATEGORY)),
        f"{shop}/cart",
        *(f"{shop}/stories/{slug}" for slug in cat.STORIES),
    )


def _pages(rng: np.random.Generator, activity: Ints) -> Ints:
    """Codes into ``page_urls()``."""
    count = len(activity)
    kind = rng.choice(len(cat.PAGE_KINDS), size=count, p=probabilities(cat.PAGE_KIND_WEIGHTS))
    category = _categories(rng, activity)
    # Product popularity is long-tailed too: a few best sellers, many rarely seen.
    product = np.minimum(
        (np.exp(rng.random(count) * np.log(PRODUCTS_PER_CATEGORY + 1)) - 1).astype(np.int64),
        PRODUCTS_PER_CATEGORY - 1,
    )
    categories = len(cat.CATEGORIES)
    products = categories * PRODUCTS_PER_CATEGORY
    story = rng.integers(0, len(cat.STORIES), size=count)
    url: Ints = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            np.zeros(count, np.int64),
            1 + category,
            1 + categories + category * PRODUCTS_PER_CATEGORY + product,
            np.full(count, 1 + categories + products, np.int64),
        ],
        default=2 + categories + products + story,
    )
    return url


# ---- the web shop ---------------------------------------------------------------------------

_SHOP_FIELDS = (
    ("utc", "i8"),
    ("zone", "i2"),
    ("type", "i1"),
    ("browser", "i4"),
    ("shop_id", "i8"),
    ("url", "i4"),
    ("referrer", "i1"),
    ("order", "i8"),
    ("amount", "f8"),
    ("currency", "i1"),
    ("items", "i2"),
    ("category", "i1"),
    ("fulfilment", "i1"),
    ("store", "i2"),
)


@dataclass(frozen=True)
class ShopEvents:
    file: EventFile
    visitors: int  # browsers who never signed up


def shop_events(people: People, clock: Clock, seed: int, *, start: int, until: int) -> ShopEvents:
    """Page views (customers and visitors who never sign up), orders, and orders ready."""
    rng = stream(seed, "shop-events")
    members = np.flatnonzero(people.shop)
    visitors = people.size // 4
    # Browsers: customers (their own cookie) then visitors (cookies of their own).
    b_person = np.concatenate([members, np.full(visitors, -1, np.int64)])
    b_city = np.concatenate(
        [people.city[members], rng.choice(len(CITIES), size=visitors, p=CITY_WEIGHT)]
    )
    activities = probabilities(cat.ACTIVITY_WEIGHTS)
    b_activity = np.concatenate(
        [people.activity[members], rng.choice(len(activities), size=visitors, p=activities)]
    )
    b_since = np.concatenate(
        [people.since[members], start + (rng.random(visitors) * (until - start)).astype(np.int64)]
    )
    b_sessions = np.concatenate(
        [
            rng.poisson(2.9 * people.propensity[members] ** 0.5),
            1 + rng.poisson(0.3, size=visitors),
        ]
    )
    cookies = np.concatenate([people.cookie[members], uuids(stream(seed, "visitors"), visitors)])

    # Sessions of a few pages each; signed-in sessions also carry the shop account.
    s_browser = np.repeat(np.arange(len(b_person)), b_sessions)
    sessions = len(s_browser)
    s_zone = CITY_ZONE[b_city[s_browser]]
    s_start = clock.at_local_hours(
        rng,
        between(rng, b_since[s_browser], until - HOUR),
        s_zone,
        cat.BROWSING_HOURS,
        before=until - HOUR,  # a session's pages follow within the hour
    )
    s_person = b_person[s_browser]
    s_signed_in = (s_person >= 0) & (rng.random(sessions) < 0.6)
    s_pages = 1 + rng.poisson(1.8, size=sessions)
    referrers = probabilities(cat.REFERRER_WEIGHTS)
    s_referrer = rng.choice(len(referrers), size=sessions, p=referrers)
    p_session = np.repeat(np.arange(sessions), s_pages)
    p_step = positions_within(s_pages)
    p_browser = s_browser[p_session]
    pages = {
        "utc": s_start[p_session] + p_step * 40 + rng.integers(0, 40, size=len(p_session)),
        "zone": s_zone[p_session],
        "type": np.zeros(len(p_session), np.int64),
        "browser": p_browser,
        "shop_id": np.where(
            s_signed_in[p_session], people.shop_id[np.maximum(s_person[p_session], 0)], -1
        ),
        "url": _pages(rng, b_activity[p_browser]),
        "referrer": np.where(p_step == 0, s_referrer[p_session], -1),
    }

    # Orders: how often follows the person's propensity, so that spend is long-tailed.
    o_person = np.repeat(members, rng.poisson(1.3 * people.propensity[members]))
    o_count = len(o_person)
    o_zone = people.zone[o_person]
    o_utc = clock.at_local_hours(
        rng,
        between(rng, people.since[o_person], until - HOUR),
        o_zone,
        cat.BROWSING_HOURS,
        before=until,
    )
    o_number = np.empty(o_count, np.int64)
    o_number[np.argsort(o_utc, kind="stable")] = 10_000_001 + np.arange(o_count)
    o_items = 1 + rng.poisson(0.7, size=o_count)
    o_category = _categories(rng, people.activity[o_person])
    o_country = people.country[o_person]
    o_collect = (people.home_store[o_person] >= 0) & (rng.random(o_count) < 0.3)
    orders = {
        "utc": o_utc,
        "zone": o_zone,
        "type": np.ones(o_count, np.int64),
        "shop_id": people.shop_id[o_person],
        "order": o_number,
        "amount": _amounts(rng, o_category, o_country, people.propensity[o_person], o_items),
        "currency": COUNTRY_CURRENCY[o_country],
        "items": o_items,
        "category": o_category,
        "fulfilment": o_collect.astype(np.int64),
        "store": np.where(o_collect, people.home_store[o_person], -1),
    }
    # Click and collect: the store says the order is ready, in opening hours, hours or days on.
    delay = (HOUR * (2 + rng.lognormal(2.3, 0.6, size=o_count))).astype(np.int64)
    ready_at = clock.at_local_hours(rng, o_utc + delay, o_zone, cat.STORE_HOURS, before=until)
    ready_at = np.where(ready_at <= o_utc, ready_at + DAY, ready_at)
    ready = np.flatnonzero(o_collect & (ready_at < until))
    readies = {
        "utc": ready_at[ready],
        "zone": o_zone[ready],
        "type": np.full(len(ready), 2, np.int64),
        "shop_id": people.shop_id[o_person[ready]],
        "order": o_number[ready],
        "store": people.home_store[o_person[ready]],
    }
    table = _table(_SHOP_FIELDS, [pages, orders, readies])
    rows = _in_file_order(rng, table, bad=mistakes(len(table), 0.00002, 2), duplicates=0)
    urls = page_urls()
    widths = {"shop_id": width_of(people.shop_id), "order": width_of(o_number)}

    def render(part: Part) -> pl.DataFrame:
        browser = part["browser"]
        return pl.DataFrame(
            {
                "message_id": _message_ids(part, "shop"),
                "type": pick(SHOP_EVENT_TYPES, part["type"]),
                "occurred_at": _occurred_at(clock, part),
                "external_id": numbers(part["shop_id"], width=widths["shop_id"]),
                "anonymous_id": fixed_text(np.take(cookies, browser), valid=browser >= 0),
                "url": pick(urls, part["url"]),
                "referrer": pick(cat.REFERRERS, part["referrer"]),
                "order_id": numbers(part["order"], prefix="NW-", width=widths["order"]),
                "amount": _amount_column(part.table["amount"]),
                "currency": pick(CURRENCIES, part["currency"]),
                "items": _counts(part["items"]),
                "sku_category": pick(cat.CATEGORIES, part["category"]),
                "fulfilment": pick(FULFILMENT, part["fulfilment"]),
                "store": pick(STORES, part["store"]),
            }
        )

    return ShopEvents(EventFile(rows, render), visitors=visitors)


# ---- the tills ------------------------------------------------------------------------------

_POS_FIELDS = (
    ("utc", "i8"),
    ("zone", "i2"),
    ("person", "i8"),
    ("receipt_email", "i1"),
    ("store", "i2"),
    ("amount", "f8"),
    ("currency", "i1"),
    ("items", "i2"),
    ("category", "i1"),
    ("payment", "i1"),
)


def pos_events(people: People, clock: Clock, seed: int, *, until: int) -> EventFile:
    """Store purchases of loyalty members; a few receipts re-sent, a few timestamps garbled."""
    rng = stream(seed, "pos-events")
    members = np.flatnonzero(people.pos)
    owner = np.repeat(members, rng.poisson(2.6 * people.propensity[members]))
    count = len(owner)
    zone = people.zone[owner]  # stores are in the customer's own country, one zone each
    utc = clock.at_local_hours(
        rng, between(rng, people.since[owner], until - DAY), zone, cat.STORE_HOURS, before=until
    )
    items = 1 + rng.poisson(0.5, size=count)
    category = _categories(rng, people.activity[owner])
    country = people.country[owner]
    # Now and then the customer shops at another store of their country.
    elsewhere = STORE_OFFSET[country] + rng.integers(0, 1 << 30, size=count) % np.maximum(
        STORE_COUNT[country], 1
    )
    purchases = {
        "utc": utc,
        "zone": zone,
        "person": owner,
        # An e-receipt: the till learns the email, which may tie two profiles together.
        "receipt_email": rng.random(count) < 0.12,
        "store": np.where(rng.random(count) < 0.88, people.home_store[owner], elsewhere),
        "amount": _amounts(rng, category, country, people.propensity[owner] * 0.6, items),
        "currency": COUNTRY_CURRENCY[country],
        "items": items,
        "category": category,
        "payment": rng.choice(len(PAYMENTS), size=count, p=[0.45, 0.4, 0.1, 0.05]),
    }
    rows = _in_file_order(
        rng,
        _table(_POS_FIELDS, [purchases]),
        bad=mistakes(count, 0.0002, 3),
        duplicates=mistakes(count, 0.003, 3),
    )
    loyalty_width = width_of(people.loyalty_id)
    receipt_width = width_of(rows.message + 100_000_001)

    def render(part: Part) -> pl.DataFrame:
        person = part["person"]
        no_receipt = pl.Series(part["receipt_email"] == 0)
        return pl.DataFrame(
            {
                "message_id": _message_ids(part, "pos"),
                "type": pick(("store_purchase",), np.zeros(len(person), np.int64)),
                "occurred_at": _occurred_at(clock, part),
                "external_id": numbers(people.loyalty_id[person], width=loyalty_width),
                "email": people.email.gather(person).set(no_receipt, None),
                "receipt_id": numbers(part.message + 100_000_001, prefix="R", width=receipt_width),
                "store": pick(STORES, part["store"]),
                "amount": _amount_column(part.table["amount"]),
                "currency": pick(CURRENCIES, part["currency"]),
                "items": _counts(part["items"]),
                "sku_category": pick(cat.CATEGORIES, part["category"]),
                "payment": pick(PAYMENTS, part["payment"]),
            }
        )

    return EventFile(rows, render)


# ---- the support desk -----------------------------------------------------------------------

_SUPPORT_FIELDS = (
    ("utc", "i8"),
    ("zone", "i2"),
    ("type", "i1"),
    ("person", "i8"),
    ("by_phone", "i1"),
    ("ticket", "i8"),
    ("channel", "i1"),
    ("topic", "i1"),
    ("priority", "i1"),
    ("satisfaction", "i1"),
)


def support_events(people: People, clock: Clock, seed: int, *, until: int) -> EventFile:
    """Tickets opened and closed, known by the email or the phone the customer used."""
    rng = stream(seed, "support-events")
    members = np.flatnonzero(people.support)
    owner = np.repeat(members, 1 + rng.poisson(0.5, size=len(members)))
    count = len(owner)
    zone = people.zone[owner]
    opened = clock.at_local_hours(
        rng, between(rng, people.since[owner], until - DAY), zone, cat.SUPPORT_HOURS, before=until
    )
    # Who calls is known by phone; who writes or chats, by email.
    by_phone = people.support_phone[owner] & (
        ~people.support_email[owner] | (rng.random(count) < 0.3)
    )
    channel = np.where(by_phone, 1, np.where(rng.random(count) < 0.7, 0, 2))
    ticket = np.empty(count, np.int64)
    ticket[np.argsort(opened, kind="stable")] = 1_000_001 + np.arange(count)
    topics = probabilities(cat.TICKET_TOPIC_WEIGHTS)
    common = {
        "zone": zone,
        "person": owner,
        "by_phone": by_phone,
        "ticket": ticket,
        "channel": channel,
        "topic": rng.choice(len(topics), size=count, p=topics),
        "priority": rng.choice(len(PRIORITIES), size=count, p=[0.25, 0.6, 0.15]),
    }
    closed_at = opened + (HOUR * rng.lognormal(2.8, 1.1, size=count)).astype(np.int64)
    closed = np.flatnonzero((closed_at < until) & (rng.random(count) < 0.95))
    # Satisfaction: most are content, a few are not, many never answer.
    answered = rng.random(len(closed)) < 0.45
    score = 1 + rng.choice(5, size=len(closed), p=[0.05, 0.07, 0.13, 0.35, 0.4])
    table = _table(
        _SUPPORT_FIELDS,
        [
            {"utc": opened, "type": np.zeros(count, np.int64), **common},
            {
                "utc": closed_at[closed],
                "type": np.ones(len(closed), np.int64),
                **{name: column[closed] for name, column in common.items()},
                "satisfaction": np.where(answered, score, -1),
            },
        ],
    )
    rows = _in_file_order(rng, table, bad=mistakes(len(table), 0.0005, 2), duplicates=0)
    ticket_width = width_of(ticket)

    def render(part: Part) -> pl.DataFrame:
        person = part["person"]
        phone_known = pl.Series(part["by_phone"] == 1)
        properties = pl.DataFrame(
            {
                "ticket_id": numbers(part["ticket"], prefix="T-", width=ticket_width),
                "channel": pick(SUPPORT_CHANNELS, part["channel"]),
                "topic": pick(cat.TICKET_TOPICS, part["topic"]),
                "priority": pick(PRIORITIES, part["priority"]),
                "satisfaction": _counts(part["satisfaction"]),
            }
        )
        return pl.DataFrame(
            {
                "message_id": _message_ids(part, "support"),
                "type": pick(SUPPORT_EVENT_TYPES, part["type"]),
                "occurred_at": _occurred_at(clock, part),
                "email": people.email.gather(person).set(phone_known, None),
                "phone": people.e164(person).set(~phone_known, None),
                "properties": properties.to_struct(),
            }
        )

    return EventFile(rows, render)
