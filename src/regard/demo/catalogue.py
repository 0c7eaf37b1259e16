"""What the demo brand, Northwind Outfitters, is made of: its markets, stores and products.

Plain data, kept apart from the generator so that the generator reads as the steps it takes.
Every list here is small; the generator turns them into millions of rows by indexing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

BRAND_NAME = "Northwind Outfitters"
SHOP_URL = "https://shop.northwind.example"

# Reserved example domains (RFC 2606): nobody can ever receive a demo message by accident.
EMAIL_DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "post.example",
    "inbox.example.com",
)
EMAIL_DOMAIN_WEIGHTS = (0.32, 0.2, 0.14, 0.14, 0.1, 0.1)


@dataclass(frozen=True)
class City:
    name: str
    time_zone: str
    locale: str
    # North American numbers: the area code of the city; elsewhere numbers are mobiles.
    area_code: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class Country:
    code: str
    weight: float
    currency: str
    eur_per_unit: float
    cities: tuple[City, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    # Towns with a Northwind store; customers of other countries shop online only.
    stores: tuple[str, ...] = ()


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(","))


def _cities(zone: str, locale: str, towns: str) -> tuple[City, ...]:
    # Larger towns first; weights fall with rank so the capital dominates, as in life.
    return tuple(
        City(name, zone, locale, weight=1.0 / (rank + 1)) for rank, name in enumerate(_names(towns))
    )


def _weights(text: str) -> tuple[float, ...]:
    return tuple(float(w) for w in text.split())


COUNTRIES: tuple[Country, ...] = (
    Country(
        code="NL",
        weight=0.30,
        currency="EUR",
        eur_per_unit=1.0,
        cities=_cities(
            "Europe/Amsterdam",
            "nl-NL",
            "Amsterdam, Rotterdam, Utrecht, Den Haag, Eindhoven, Groningen, Nijmegen, Arnhem",
        ),
        first_names=_names(
            "Sanne, Daan, Emma, Lucas, Julia, Sem, Lotte, Finn, Anna, Noah, Fleur, Bram, "
            "Eva, Jesse, Sophie, Thijs, Iris, Ruben, Lisa, Milan"
        ),
        last_names=_names(
            "de Jong, Jansen, de Vries, van den Berg, van Dijk, Bakker, Visser, Smit, "
            "Meijer, de Boer, Mulder, de Groot, Bos, Vos, Peters, Hendriks, van Leeuwen, "
            "Dekker, Brouwer, de Wit"
        ),
        stores=("Amsterdam", "Utrecht", "Rotterdam", "Groningen"),
    ),
    Country(
        code="DE",
        weight=0.17,
        currency="EUR",
        eur_per_unit=1.0,
        cities=_cities(
            "Europe/Berlin",
            "de-DE",
            "Berlin, Hamburg, München, Köln, Frankfurt am Main, Freiburg im Breisgau, Leipzig",
        ),
        first_names=_names(
            "Lukas, Mia, Leon, Hannah, Felix, Lea, Jonas, Lena, Paul, Marie, Maximilian, "
            "Laura, Tim, Johanna, Niklas, Katharina, Jan, Sophie"
        ),
        last_names=_names(
            "Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, "
            "Hoffmann, Koch, Richter, Klein, Wolf, Schröder, Neumann"
        ),
        stores=("Berlin", "Hamburg", "München", "Köln"),
    ),
    Country(
        code="GB",
        weight=0.13,
        currency="GBP",
        eur_per_unit=1.17,
        cities=_cities(
            "Europe/London",
            "en-GB",
            "London, Manchester, Edinburgh, Bristol, Leeds, Glasgow, Kendal",
        ),
        first_names=_names(
            "Oliver, Amelia, George, Isla, Harry, Ava, Jack, Emily, Charlie, Grace, "
            "Thomas, Freya, James, Poppy, William, Ella, Alfie, Rosie"
        ),
        last_names=_names(
            "Smith, Jones, Taylor, Brown, Williams, Wilson, Johnson, Davies, Robinson, "
            "Wright, Thompson, Evans, Walker, White, Roberts, Green"
        ),
        stores=("London", "Manchester", "Edinburgh"),
    ),
    Country(
        code="BE",
        weight=0.08,
        currency="EUR",
        eur_per_unit=1.0,
        cities=(
            City("Antwerpen", "Europe/Brussels", "nl-BE", weight=1.0),
            City("Gent", "Europe/Brussels", "nl-BE", weight=0.6),
            City("Brussel", "Europe/Brussels", "fr-BE", weight=0.8),
            City("Leuven", "Europe/Brussels", "nl-BE", weight=0.4),
            City("Liège", "Europe/Brussels", "fr-BE", weight=0.4),
        ),
        first_names=_names(
            "Arthur, Olivia, Louis, Emma, Jules, Louise, Victor, Elise, Mathis, Marie, "
            "Lars, Nora, Wout, Lina, Noah, Ella"
        ),
        last_names=_names(
            "Peeters, Janssens, Maes, Jacobs, Mertens, Willems, Claes, Goossens, Wouters, "
            "De Smet, Dubois, Lambert, Dupont, Martens, Vermeulen"
        ),
        stores=("Antwerpen", "Gent"),
    ),
    Country(
        code="US",
        weight=0.12,
        currency="USD",
        eur_per_unit=0.92,
        cities=(
            City("New York", "America/New_York", "en-US", "212", 1.0),
            City("Boston", "America/New_York", "en-US", "617", 0.4),
            City("Chicago", "America/Chicago", "en-US", "312", 0.6),
            City("Minneapolis", "America/Chicago", "en-US", "612", 0.3),
            City("Denver", "America/Denver", "en-US", "303", 0.5),
            City("Salt Lake City", "America/Denver", "en-US", "801", 0.3),
            City("Phoenix", "America/Phoenix", "en-US", "602", 0.3),
            City("Seattle", "America/Los_Angeles", "en-US", "206", 0.6),
            City("Portland", "America/Los_Angeles", "en-US", "503", 0.4),
            City("San Francisco", "America/Los_Angeles", "en-US", "415", 0.5),
            City("Anchorage", "America/Anchorage", "en-US", "907", 0.1),
        ),
        first_names=_names(
            "Liam, Olivia, Noah, Emma, Ethan, Ava, Mason, Sophia, Logan, Isabella, Lucas, "
            "Mia, Jackson, Harper, Aiden, Evelyn, Carter, Abigail"
        ),
        last_names=_names(
            "Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, "
            "Martinez, Anderson, Taylor, Thomas, Moore, Jackson, Lee"
        ),
    ),
    Country(
        code="CA",
        weight=0.06,
        currency="CAD",
        eur_per_unit=0.68,
        cities=(
            City("Toronto", "America/Toronto", "en-CA", "416", 1.0),
            City("Montréal", "America/Toronto", "fr-CA", "514", 0.7),
            City("Vancouver", "America/Vancouver", "en-CA", "604", 0.7),
            City("Calgary", "America/Edmonton", "en-CA", "403", 0.5),
            City("Halifax", "America/Halifax", "en-CA", "902", 0.2),
            City("Winnipeg", "America/Winnipeg", "en-CA", "204", 0.2),
        ),
        first_names=_names(
            "Liam, Charlotte, Noah, Olivia, William, Emma, Benjamin, Amelia, Félix, Léa, "
            "Jacob, Chloé, Owen, Maya, Ethan, Zoé"
        ),
        last_names=_names(
            "Smith, Tremblay, Martin, Roy, Wilson, Gagnon, Brown, Lee, Côté, MacDonald, "
            "Campbell, Bouchard, Taylor, Anderson, Gauthier, Morin"
        ),
    ),
    Country(
        code="SE",
        weight=0.06,
        currency="SEK",
        eur_per_unit=0.087,
        cities=_cities("Europe/Stockholm", "sv-SE", "Stockholm, Göteborg, Malmö, Uppsala, Umeå"),
        first_names=_names(
            "Elsa, William, Alice, Liam, Maja, Hugo, Saga, Oscar, Ebba, Lucas, Astrid, "
            "Elias, Wilma, Axel, Freja, Olle"
        ),
        last_names=_names(
            "Andersson, Johansson, Karlsson, Nilsson, Eriksson, Larsson, Olsson, Persson, "
            "Svensson, Gustafsson, Lindqvist, Sjöberg, Berg, Lindström"
        ),
        stores=("Stockholm", "Göteborg"),
    ),
    Country(
        code="NO",
        weight=0.04,
        currency="NOK",
        eur_per_unit=0.085,
        cities=_cities("Europe/Oslo", "nb-NO", "Oslo, Bergen, Trondheim, Tromsø"),
        first_names=_names(
            "Nora, Jakob, Emma, Emil, Sofie, Filip, Ingrid, Aksel, Sara, Magnus, Olivia, "
            "Henrik, Ella, Sander"
        ),
        last_names=_names(
            "Hansen, Johansen, Olsen, Larsen, Andersen, Pedersen, Nilsen, Kristiansen, "
            "Jensen, Karlsen, Haugen, Bakken, Solberg, Dahl"
        ),
    ),
    Country(
        code="AU",
        weight=0.04,
        currency="AUD",
        eur_per_unit=0.6,
        cities=(
            City("Sydney", "Australia/Sydney", "en-AU", weight=1.0),
            City("Melbourne", "Australia/Melbourne", "en-AU", weight=0.9),
            City("Brisbane", "Australia/Brisbane", "en-AU", weight=0.5),
            City("Perth", "Australia/Perth", "en-AU", weight=0.4),
            City("Hobart", "Australia/Hobart", "en-AU", weight=0.15),
        ),
        first_names=_names(
            "Charlotte, Oliver, Amelia, Noah, Isla, Jack, Mia, William, Ava, Leo, Grace, "
            "Henry, Matilda, Lachlan"
        ),
        last_names=_names(
            "Smith, Jones, Williams, Brown, Wilson, Taylor, Nguyen, Johnson, Martin, "
            "White, Anderson, Walker, Thompson, Kelly"
        ),
    ),
)

ACTIVITIES = (
    "hiking",
    "trail running",
    "climbing",
    "camping",
    "cycling",
    "paddling",
    "skiing",
    "fishing",
)
ACTIVITY_WEIGHTS = (0.28, 0.12, 0.1, 0.18, 0.12, 0.07, 0.08, 0.05)

CATEGORIES = (
    "tents",
    "sleeping-bags",
    "backpacks",
    "footwear",
    "jackets",
    "base-layers",
    "climbing",
    "cycling",
    "paddling",
    "ski",
    "camp-kitchen",
    "navigation",
    "fishing",
    "accessories",
)
# The category a fan of each activity buys most, by index into CATEGORIES.
ACTIVITY_CATEGORY = (3, 3, 6, 0, 7, 8, 9, 12)
# Typical basket value per category, EUR: a tent costs more than a pair of socks.
CATEGORY_PRICE_EUR = (240, 110, 120, 130, 180, 45, 90, 70, 150, 220, 55, 60, 65, 25)

LOYALTY_TIERS = ("trail", "ridge", "summit")
TICKET_TOPICS = ("returns", "sizing", "delivery", "repair", "warranty", "product-question")
TICKET_TOPIC_WEIGHTS = (0.26, 0.18, 0.22, 0.12, 0.08, 0.14)
PAGE_KINDS = ("home", "category", "product", "cart", "stories")
PAGE_KIND_WEIGHTS = (0.16, 0.26, 0.44, 0.08, 0.06)
STORIES = (
    "packing-for-a-first-hut-trip",
    "how-to-pitch-in-the-wind",
    "layering-for-winter-hikes",
    "repair-your-down-jacket",
    "choosing-trail-shoes",
    "leave-no-trace",
)
REFERRERS = ("direct", "search", "newsletter", "social", "partner")
REFERRER_WEIGHTS = (0.38, 0.34, 0.12, 0.11, 0.05)

# Local hour weights (0..23): people browse in the evening, shops open 9 to 21.
BROWSING_HOURS = _weights("1 0.6 0.3 0.2 0.2 0.4 1 2 3 3.5 4 4 4.5 4 4 4 4.5 5 6 7.5 8 7.5 5 2.5")
STORE_HOURS = _weights("0 0 0 0 0 0 0 0 0 2 3 4 5 5 5 5 5 6 6 5 3 0 0 0")
SUPPORT_HOURS = _weights(
    "0.2 0.1 0.1 0.1 0.1 0.2 0.5 1.5 4 5 5 5 4.5 5 5 4.5 4 3.5 3 3 2.5 2 1 0.5"
)

# Deliberate mistakes, as real exports have them; the importer must reject each such row.
BAD_EMAILS = (
    "{local}@example",
    "{local}@@example.com",
    "{local} at example.com",
    "{local}..x@example.org",
    "{local}@example,com",
)
BAD_TIME_ZONES = ("Europe/Amsterdm", "America/NewYork", "Mars/Olympus_Mons", "GMT+25", "CEST")
BAD_TIMESTAMPS = (
    "31/10/2025 18:42",
    "2025-02-30T10:00:00+01:00",
    "2025-10-31T25:61:00+00:00",
    "yesterday",
    "2025-10-31 at 18:42",
)
BAD_PHONES = ("+31 6 1234", "0000000", "+1 555 0100", "++44 7400")


def ascii_slug(text: str) -> str:
    """``Sjöberg`` -> ``sjoberg``, ``van den Berg`` -> ``vandenberg``: for email addresses."""
    folded = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()
