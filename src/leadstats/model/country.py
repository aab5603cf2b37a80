"""Country names and codes to ISO 3166-1 alpha-2, from pycountry's maintained tables.

``India``, ``IN``, ``in``, ``IND`` and ``Republic of India`` are all ``IN``. A value pycountry does not
know is kept as given (CONTRACT §1). ``ALIASES`` only adds everyday English names that ISO spells
differently (``UK``, ``Russia``, ``UAE``...), never a replacement for the library.
"""

from __future__ import annotations

from functools import lru_cache

ALIASES: dict[str, str] = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "russia": "RU",
    "turkey": "TR",
    "uae": "AE",
    "u.a.e.": "AE",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "ivory coast": "CI",
    "macedonia": "MK",
    "palestine": "PS",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "burma": "MM",
    "holland": "NL",
    "the netherlands": "NL",
    "korea": "KR",
    "kosovo": "XK",
    "vatican": "VA",
    "czechia": "CZ",
}


@lru_cache(maxsize=1)
def country_table() -> dict[str, str]:
    """Lower-cased name/code -> alpha-2, for every country pycountry knows plus ``ALIASES``."""
    import pycountry

    table: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value:
                table.setdefault(value.strip().lower(), c.alpha_2)
    for key, code in ALIASES.items():
        table.setdefault(key, code)
    return table


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    """``country_code("India") == "IN"``; unknown values come back unchanged, blanks as None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    return country_table().get(text.lower(), text)
