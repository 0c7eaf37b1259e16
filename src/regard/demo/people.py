"""The demo's people, and the customer files each source keeps of them.

One population is drawn once; each source then knows part of it, under its own names: the web
shop an email and an account number (sometimes a phone), the tills a loyalty card and usually a
phone (sometimes the email), the support desk whatever the customer wrote or called from. Where
the shop has only the email and the till only the phone, one person starts as two profiles that
a later record (a support contact with both, an e-receipt, a login) ties together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata

from regard.demo import catalogue as cat
from regard.demo.columns import (
    DAY,
    Bools,
    Clock,
    Floats,
    Ints,
    between,
    cycle,
    numbers,
    pick,
    probabilities,
    scatter,
    stream,
    uuids,
)

# ---- the catalogue as arrays ----------------------------------------------------------------


def _flatten(groups: list[tuple[str, ...]]) -> tuple[tuple[str, ...], Ints, Ints]:
    """Concatenated names with each group's offset and size, to draw a name per country."""
    names = tuple(name for group in groups for name in group)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    return names, np.cumsum(sizes) - sizes, sizes


CITIES = tuple((ci, city) for ci, country in enumerate(cat.COUNTRIES) for city in country.cities)
CITY_NAMES = tuple(city.name for _, city in CITIES)
CITY_LOCALES = tuple(city.locale for _, city in CITIES)
COUNTRY_CODES = tuple(c.code for c in cat.COUNTRIES)
ZONES: tuple[str, ...] = tuple(sorted({city.time_zone for _, city in CITIES}))
CITY_COUNTRY = np.array([ci for ci, _ in CITIES], dtype=np.int64)
CITY_ZONE = np.array([ZONES.index(city.time_zone) for _, city in CITIES], dtype=np.int64)
CITY_WEIGHT = probabilities(
    [
        cat.COUNTRIES[ci].weight * city.weight / sum(c.weight for c in cat.COUNTRIES[ci].cities)
        for ci, city in CITIES
    ]
)
FIRST_NAMES, _FIRST_OFFSET, _FIRST_COUNT = _flatten([c.first_names for c in cat.COUNTRIES])
LAST_NAMES, _LAST_OFFSET, _LAST_COUNT = _flatten([c.last_names for c in cat.COUNTRIES])
STORES: tuple[str, ...] = tuple(f"Northwind {town}" for c in cat.COUNTRIES for town in c.stores)
_STORE_TOWNS, STORE_OFFSET, STORE_COUNT = _flatten([c.stores for c in cat.COUNTRIES])
# A customer living in a store's town shops there; others at a store of their country.
_CITY_STORE = np.array(
    [
        int(STORE_OFFSET[ci]) + cat.COUNTRIES[ci].stores.index(city.name)
        if city.name in cat.COUNTRIES[ci].stores
        else -1
        for ci, city in CITIES
    ],
    dtype=np.int64,
)
CURRENCIES: tuple[str, ...] = tuple(sorted({c.currency for c in cat.COUNTRIES}))
COUNTRY_CURRENCY = np.array([CURRENCIES.index(c.currency) for c in cat.COUNTRIES])
COUNTRY_EUR = np.array([c.eur_per_unit for c in cat.COUNTRIES])
EUR_PER_UNIT: dict[str, float] = {c.currency: c.eur_per_unit for c in cat.COUNTRIES}
_HOME_COUNTRY = 0  # the Netherlands: the brand's region, where numbers are written nationally


# ---- phone numbers --------------------------------------------------------------------------


@dataclass(frozen=True)
class _NumberPlan:
    region: str
    prefix: str  # national digits kept from the template
    free_digits: int  # digits drawn after it
    mobile: bool


def _number_plans() -> tuple[tuple[_NumberPlan, ...], Ints]:
    """One plan per country (a real mobile number's leading digits); per city in NANP."""
    plans: list[_NumberPlan] = []
    city_plan: list[int] = []
    for ci, city in CITIES:
        region = cat.COUNTRIES[ci].code
        if city.area_code is not None:
            plan = _NumberPlan(region, city.area_code, 7, mobile=False)
        else:
            example = phonenumbers.example_number_for_type(
                region, phonenumbers.PhoneNumberType.MOBILE
            )
            if example is None:
                raise RuntimeError(f"phonenumbers has no example mobile number for {region}")
            national = phonenumbers.national_significant_number(example)
            keep = max(1, len(national) - 7)
            plan = _NumberPlan(region, national[:keep], len(national) - keep, mobile=True)
        if plan not in plans:
            plans.append(plan)
        city_plan.append(plans.index(plan))
    return tuple(plans), np.array(city_plan, dtype=np.int64)


def valid_national_numbers(region: str, national: pl.Series, *, mobile: bool) -> pl.Series:
    """Which national numbers libphonenumber would call valid, checked for a whole column.

    The test of ``phonenumbers.is_valid_number``: the number fits the region's general pattern
    and the pattern of its type (mobile, or fixed line), each with its possible lengths.
    """
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.general_desc is None:
        raise RuntimeError(f"phonenumbers has no metadata for {region}")
    general = meta.general_desc
    typed = meta.mobile if mobile else meta.fixed_line
    ok = pl.Series([True] * len(national))
    for desc in (general, typed):
        if desc is None or desc.national_number_pattern is None:
            raise RuntimeError(f"phonenumbers has no number pattern for {region}")
        lengths = list(desc.possible_length or general.possible_length or ())
        ok = (
            ok
            & national.str.len_chars().is_in(lengths)
            & national.str.contains(f"^(?:{desc.national_number_pattern})$")
        )
    return ok


def _draw_numbers(rng: np.random.Generator, plan: _NumberPlan, count: int) -> pl.Series:
    """``count`` distinct valid national numbers: the plan's prefix, then random digits."""
    space = 10**plan.free_digits
    wanted = min(space, int(count * 1.4) + 64)
    while True:
        suffixes = rng.choice(space, size=wanted, replace=False).astype(np.int64)
        drawn = plan.prefix + pl.Series(suffixes).cast(pl.String).str.zfill(plan.free_digits)
        drawn = drawn.filter(valid_national_numbers(plan.region, drawn, mobile=plan.mobile))
        if len(drawn) >= count:
            break
        if wanted == space:
            raise RuntimeError(f"not enough valid {plan.region} numbers for {count} people")
        wanted = min(space, wanted * 2)
    drawn = drawn.head(count)
    # A guard on the pattern check: a few numbers through libphonenumber itself.
    code = phonenumbers.country_code_for_region(plan.region)
    for national in drawn.head(3).to_list():
        parsed = phonenumbers.parse(f"+{code}{national}")
        if not phonenumbers.is_valid_number_for_region(parsed, plan.region):
            raise RuntimeError(f"generated an invalid {plan.region} number")
    return drawn


def _phones(rng: np.random.Generator, city: Ints) -> tuple[pl.Series, Ints]:
    """A distinct valid number for every person, and their country calling code."""
    plans, city_plan = _number_plans()
    person_plan = city_plan[city]
    parts: list[pl.Series] = []
    owners: list[Ints] = []
    for index, plan in enumerate(plans):
        members = np.flatnonzero(person_plan == index)
        if len(members):
            parts.append(_draw_numbers(rng, plan, len(members)))
            owners.append(members)
    national = pl.concat(parts).gather(np.argsort(np.concatenate(owners), kind="stable"))
    codes = np.array(
        [phonenumbers.country_code_for_region(c.code) for c in cat.COUNTRIES], dtype=np.int64
    )
    return national, codes[CITY_COUNTRY[city]]


# ---- the people -----------------------------------------------------------------------------


@dataclass
class People:
    """The population, one entry per person, in random order; -1 means 'none'."""

    city: Ints
    country: Ints
    zone: Ints
    first: Ints
    last: Ints
    propensity: Floats  # how much this person buys, relative to the average (mean 1)
    activity: Ints
    since: Ints  # first contact with the brand, seconds since the epoch
    home_store: Ints
    email: pl.Series
    national: pl.Series  # national significant number
    calling_code: Ints
    shop: Bools
    pos: Bools
    support: Bools
    shop_id: Ints
    loyalty_id: Ints
    cookie: npt.NDArray[np.bytes_]  # the web shop's cookie in this person's browser
    shop_phone: Bools
    pos_phone: Bools
    pos_email: Bools
    support_email: Bools
    support_phone: Bools

    @property
    def size(self) -> int:
        return len(self.city)

    @property
    def split_profiles(self) -> int:
        """People the shop and the tills know under no common name: two profiles at first."""
        return int((self.shop & self.pos & ~self.shop_phone & ~self.pos_email).sum())

    def e164(self, rows: Ints) -> pl.Series:
        code = pl.Series(self.calling_code[rows]).cast(pl.String)
        return "+" + code + self.national.gather(rows)

    def spaced(self, rows: Ints) -> pl.Series:
        """``+31 612345678``: international, with a space after the country code."""
        code = pl.Series(self.calling_code[rows]).cast(pl.String)
        return "+" + code + " " + self.national.gather(rows)

    def till_phone(self, rows: Ints) -> pl.Series:
        """As a clerk types it: national form at home (0612345678), international otherwise."""
        national = self.national.gather(rows)
        at_home = pl.Series(self.country[rows] == _HOME_COUNTRY)
        return pl.select(
            pl.when(at_home).then("0" + national).otherwise(self.spaced(rows))
        ).to_series()


def _emails(rng: np.random.Generator, first: Ints, last: Ints) -> pl.Series:
    """Distinct addresses at reserved example domains, in the shapes people choose."""
    count = len(first)
    shapes = probabilities((0.4, 0.2, 0.15, 0.15, 0.1))
    domains = probabilities(cat.EMAIL_DOMAIN_WEIGHTS)
    frame = pl.DataFrame(
        {
            "f": pick([cat.ascii_slug(n) for n in FIRST_NAMES], first),
            "l": pick([cat.ascii_slug(n) for n in LAST_NAMES], last),
            "shape": rng.choice(len(shapes), size=count, p=shapes),
            "domain": pick(cat.EMAIL_DOMAINS, rng.choice(len(domains), size=count, p=domains)),
        }
    )
    f, surname, shape = pl.col("f"), pl.col("l"), pl.col("shape")
    local = (
        pl.when(shape == 0)
        .then(pl.concat_str(f, pl.lit("."), surname))
        .when(shape == 1)
        .then(pl.concat_str(f, surname))
        .when(shape == 2)
        .then(pl.concat_str(f.str.slice(0, 1), surname))
        .when(shape == 3)
        .then(pl.concat_str(f, pl.lit("_"), surname))
        .otherwise(pl.concat_str(f, surname.str.slice(0, 1)))
    )
    taken = pl.col("taken")
    # The second Emma Smith at a domain becomes emma.smith1, the third emma.smith2...
    return (
        frame.with_columns(local=local)
        .with_columns(taken=pl.int_range(pl.len()).over("local", "domain"))
        .select(
            pl.concat_str(
                "local",
                pl.when(taken > 0).then(taken.cast(pl.String)).otherwise(pl.lit("")),
                pl.lit("@"),
                "domain",
            )
        )
        .to_series()
        .alias("email")
    )


def draw_people(seed: int, count: int, *, start: int, until: int) -> People:
    """``count`` people who came to the brand between ``start`` and ``until``."""
    rng = stream(seed, "people")
    city = rng.choice(len(CITIES), size=count, p=CITY_WEIGHT)
    country = CITY_COUNTRY[city]
    first = _FIRST_OFFSET[country] + (rng.random(count) * _FIRST_COUNT[country]).astype(np.int64)
    last = _LAST_OFFSET[country] + (rng.random(count) * _LAST_COUNT[country]).astype(np.int64)
    # Spend follows a lognormal: most buy a little, a few buy a lot.
    sigma = 1.0
    propensity = rng.lognormal(-(sigma**2) / 2, sigma, size=count)
    activities = probabilities(cat.ACTIVITY_WEIGHTS)
    activity = rng.choice(len(activities), size=count, p=activities)
    # The brand grows: more people arrived lately than two years ago.
    since = start + (rng.random(count) ** 0.75 * (until - start - 7 * DAY)).astype(np.int64)

    stores = STORE_COUNT[country]
    any_store = STORE_OFFSET[country] + (rng.random(count) * np.maximum(stores, 1)).astype(np.int64)
    home_store = np.where(_CITY_STORE[city] >= 0, _CITY_STORE[city], any_store)
    home_store = np.where(stores > 0, home_store, -1)

    shop = rng.random(count) < 0.72
    pos = (rng.random(count) < 0.55) & (home_store >= 0)
    shop |= ~(shop | pos)  # everyone bought something somewhere
    support = rng.random(count) < 0.12

    # What each source knows besides its own number for the person.
    shop_phone = shop & (rng.random(count) < 0.35)
    pos_phone = pos & (rng.random(count) < 0.92)
    pos_email = pos & (rng.random(count) < 0.3)
    support_kind = rng.choice(3, size=count, p=[0.5, 0.2, 0.3])  # email, phone, both
    support_email = support & (support_kind != 1)
    support_phone = support & (support_kind != 0)

    # Shop accounts are numbered in the order people signed up; loyalty cards at random.
    shop_id = np.full(count, -1, dtype=np.int64)
    members = np.flatnonzero(shop)
    shop_id[members[np.argsort(since[members], kind="stable")]] = 1_000_001 + np.arange(
        len(members)
    )
    loyalty_id = np.full(count, -1, dtype=np.int64)
    cardholders = np.flatnonzero(pos)
    loyalty_id[cardholders] = 2_900_000_000 + rng.choice(
        100_000_000, size=len(cardholders), replace=False
    )

    national, calling_code = _phones(stream(seed, "phones"), city)
    return People(
        city=city,
        country=country,
        zone=CITY_ZONE[city],
        first=first,
        last=last,
        propensity=propensity,
        activity=activity,
        since=since,
        home_store=home_store,
        email=_emails(stream(seed, "emails"), first, last),
        national=national,
        calling_code=calling_code,
        shop=shop,
        pos=pos,
        support=support,
        shop_id=shop_id,
        loyalty_id=loyalty_id,
        cookie=uuids(stream(seed, "cookies"), count),
        shop_phone=shop_phone,
        pos_phone=pos_phone,
        pos_email=pos_email,
        support_email=support_email,
        support_phone=support_phone,
    )


# ---- mistakes, as real exports have them ---------------------------------------------------


def mistakes(count: int, rate: float, minimum: int) -> int:
    """How many rows to break: a small share, at least ``minimum`` (if there are rows)."""
    return min(count, max(minimum, round(count * rate)))


def _slip_in(rng: np.random.Generator, rows: Ints, *, broken: int) -> tuple[Ints, Bools]:
    """``rows`` with ``broken`` copies of random rows slipped in at random places."""
    if broken == 0 or len(rows) == 0:
        return rows, np.zeros(len(rows), dtype=np.bool_)
    copies = rows[rng.integers(0, len(rows), size=broken)]
    places = rng.integers(0, len(rows) + 1, size=broken) * 2 + 1
    order = np.argsort(np.concatenate([np.arange(len(rows)) * 2, places]), kind="stable")
    flags = np.concatenate([np.zeros(len(rows), np.bool_), np.ones(broken, np.bool_)])
    return np.concatenate([rows, copies])[order], flags[order]


def _split(broken: Bools, first: int) -> tuple[Bools, Bools]:
    """The first ``first`` broken rows, and the rest."""
    head = broken.copy()
    head[np.flatnonzero(broken)[first:]] = False
    return head, broken & ~head


def _bad_emails(people: People, rows: Ints) -> list[str]:
    local_parts = people.email.gather(rows).str.split("@").list.first().to_list()
    return [
        cat.BAD_EMAILS[i % len(cat.BAD_EMAILS)].format(local=local)
        for i, local in enumerate(local_parts)
    ]


# ---- customer files -------------------------------------------------------------------------


def shop_customers(
    people: People, clock: Clock, seed: int, *, until: int
) -> tuple[pl.DataFrame, int]:
    """The web shop's accounts, in sign-up order; returns the frame and its broken rows."""
    rng = stream(seed, "shop-customers")
    members = np.flatnonzero(people.shop)
    members = members[np.argsort(people.shop_id[members], kind="stable")]
    bad = mistakes(len(members), 0.0005, 2)
    rows, broken = _slip_in(rng, members, broken=2 * bad)
    # Half the broken rows are sign-ups with a mistyped email, half carry a misspelt zone.
    bad_email, bad_zone = _split(broken, bad)
    email = scatter(people.email.gather(rows), bad_email, _bad_emails(people, rows[bad_email]))
    phone = people.e164(rows).set(pl.Series(~people.shop_phone[rows] | bad_email), None)
    zone = scatter(
        pick(ZONES, people.zone[rows]), bad_zone, cycle(cat.BAD_TIME_ZONES, int(bad_zone.sum()))
    )
    # Half the customers told the shop their birthday.
    age_days = rng.normal(40, 13, size=len(rows)).clip(18, 85) * 365.25
    born = until - (age_days * DAY).astype(np.int64)
    birthday = pl.from_epoch(pl.Series(born), time_unit="s").dt.date().cast(pl.String)
    birthday = birthday.set(pl.Series(rng.random(len(rows)) < 0.5), None)
    signed_up = pl.from_epoch(pl.Series(people.since[rows]), time_unit="s").dt.date()
    updated = between(rng, people.since[rows], until)
    frame = pl.DataFrame(
        {
            "external_id": numbers(np.where(bad_email, -1, people.shop_id[rows])),
            "email": email,
            "phone": phone,
            "first_name": pick(FIRST_NAMES, people.first[rows]),
            "last_name": pick(LAST_NAMES, people.last[rows]),
            "birthday": birthday,
            "city": pick(CITY_NAMES, people.city[rows]),
            "country": pick(COUNTRY_CODES, people.country[rows]),
            "time_zone": zone,
            "locale": pick(CITY_LOCALES, people.city[rows]),
            "favourite_activity": pick(cat.ACTIVITIES, people.activity[rows]),
            "signed_up_on": signed_up.cast(pl.String),
            "updated_at": clock.iso(updated, people.zone[rows]),
        }
    )
    return frame, int(broken.sum())


def loyalty_tiers(propensity: Floats) -> Ints:
    """Summit for the top 8% of spenders, ridge for the next 25%, trail for everyone else."""
    if len(propensity) == 0:
        return np.zeros(0, dtype=np.int64)
    ridge, summit = np.quantile(propensity, [0.67, 0.92])
    tiers: Ints = (propensity >= ridge).astype(np.int64) + (propensity >= summit)
    return tiers


def pos_customers(
    people: People, clock: Clock, seed: int, *, until: int
) -> tuple[pl.DataFrame, int]:
    """The tills' loyalty members, in the order they joined."""
    rng = stream(seed, "pos-customers")
    members = np.flatnonzero(people.pos)
    members = members[np.argsort(people.since[members], kind="stable")]
    # A till record with no card, no phone and no email: nothing to know the customer by.
    rows, broken = _slip_in(rng, members, broken=mistakes(len(members), 0.0002, 1))
    has_phone = people.pos_phone[rows] & ~broken
    has_email = people.pos_email[rows] & ~broken
    # Clerks skip the surname now and then.
    last_name = pick(LAST_NAMES, people.last[rows]).set(
        pl.Series(rng.random(len(rows)) < 0.1), None
    )
    updated = between(rng, people.since[rows], until)
    frame = pl.DataFrame(
        {
            "external_id": numbers(np.where(broken, -1, people.loyalty_id[rows])),
            "phone": people.till_phone(rows).set(pl.Series(~has_phone), None),
            "email": people.email.gather(rows).set(pl.Series(~has_email), None),
            "first_name": pick(FIRST_NAMES, people.first[rows]),
            "last_name": last_name,
            "country": pick(COUNTRY_CODES, people.country[rows]),
            "home_store": pick(STORES, people.home_store[rows]),
            "loyalty_tier": pick(cat.LOYALTY_TIERS, loyalty_tiers(people.propensity[rows])),
            "updated_at": clock.iso(updated, people.zone[rows]),
        }
    )
    return frame, int(broken.sum())


def support_customers(
    people: People, clock: Clock, seed: int, *, until: int
) -> tuple[pl.DataFrame, int]:
    """The support desk's contacts, by when they were last updated."""
    rng = stream(seed, "support-customers")
    members = np.flatnonzero(people.support)
    updated_all = between(rng, people.since[members], until)
    members = members[np.argsort(updated_all, kind="stable")]
    bad = mistakes(len(members), 0.001, 2)
    rows, broken = _slip_in(rng, members, broken=2 * bad)
    bad_email, bad_phone = _split(broken, bad)

    email = people.email.gather(rows)
    # People write their address as they like; normalisation must find them all the same.
    shouting = pl.Series(rng.random(len(rows)) < 0.08)
    email = pl.select(pl.when(shouting).then(email.str.to_uppercase()).otherwise(email)).to_series()
    email = scatter(email, bad_email, _bad_emails(people, rows[bad_email]))
    email = email.set(pl.Series(~(people.support_email[rows] | bad_email) | bad_phone), None)
    phone = scatter(people.spaced(rows), bad_phone, cycle(cat.BAD_PHONES, int(bad_phone.sum())))
    phone = phone.set(pl.Series(~(people.support_phone[rows] | bad_phone) | bad_email), None)
    zone = pick(ZONES, people.zone[rows]).set(pl.Series(rng.random(len(rows)) < 0.6), None)
    locale = pick(CITY_LOCALES, people.city[rows]).set(pl.Series(rng.random(len(rows)) < 0.5), None)
    updated = between(rng, people.since[rows], until)
    frame = pl.DataFrame(
        {
            "email": email,
            "phone": phone,
            "name": pick(FIRST_NAMES, people.first[rows])
            + " "
            + pick(LAST_NAMES, people.last[rows]),
            "time_zone": zone,
            "locale": locale,
            "updated_at": clock.iso(updated, people.zone[rows]),
        }
    )
    return frame, int(broken.sum())
