"""The particulars a description states in words rather than numbers: where the work happens
("in Lisbon", "at the community library"), how long a stay lasts ("4-night", "a week"), who
takes part ("two adults and a toddler") and how often it recurs ("fortnightly", "on Saturday
mornings"). Each is quoted as written; what a description does not say stays empty."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable

from berrys.services.catalogue._text import LANGUAGE_NAMES, NUMBER, is_company
from berrys.services.catalogue.contracts import Particulars

# capitalised words after "in", "to" or "at" that are not places
_NOT_PLACES = {
    *calendar.month_name[1:], *calendar.day_name, *LANGUAGE_NAMES, "Spring", "Summer",
    "Autumn", "Winter", "Easter", "Christmas", "New", "English", "Q1", "Q2", "Q3", "Q4", "I",
    "We", "Our", "My", "The",
}  # fmt: skip
_CAPITAL = r"[A-Z][\w'\u2019.-]*(?![\w'\u2019-])"
_VENUE_NOUNS = (
    "village hall|town hall|church hall|community hall|community centre|community center|"
    "leisure centre|sports centre|hall|library|park|church|chapel|school|pub|inn|garden|gardens|"
    "beach|clubhouse|club house|gym|field|stadium|theatre|theater|museum|gallery|café|cafe|"
    "restaurant|hotel|barn|farm|woods|forest|common|green|square|market|studio|allotments?|"
    "cathedral|temple|mosque|synagogue|centre|center|arena|marina|campsite|cottage"
)
# a product's name has a number or version after it ("to Microsoft 365"), a place does not
_NAMED_PLACE = re.compile(
    r"\b(?:in|to|at|near|around|round|through|across|visiting|visit|outside)\s+"
    rf"((?:the\s+)?{_CAPITAL}(?:\s+(?:(?:of|upon|de|del|la|le)\s+)?{_CAPITAL})*"
    rf"(?:\s+(?:{_VENUE_NOUNS})\b)?)(?!\s+v?\d)"
)
_JOURNEY = re.compile(
    rf"\bfrom\s+((?:the\s+)?{_CAPITAL}(?:\s+{_CAPITAL})*)\s+to\s+((?:the\s+)?{_CAPITAL}(?:\s+{_CAPITAL})*)"
    r"(?!\s+v?\d)"
)
# "on" names a place only with a place's noun: "on Brighton beach", not "on Instagram"
_NAMED_ON = re.compile(rf"\bon\s+((?:the\s+)?{_CAPITAL}(?:\s+{_CAPITAL})*\s+(?i:{_VENUE_NOUNS}))\b")
_COMMON_PLACE = re.compile(
    r"\b(?:in|at|on)\s+((?:the|our|my|a|their)\s+(?:local\s+)?(?:[a-z'\u2019-]+\s+){0,2}?"
    rf"(?:{_VENUE_NOUNS}))\b",
    re.IGNORECASE,
)
_STAY = re.compile(
    rf"(?<![\w£$€]){NUMBER}[\s-]*(night|day|week|month)s?(?:[\s-]long)?\b"
    r"|\b(?:a|one)\s+((?:long\s+)?(?:weekend|week|fortnight|month))\b",
    re.IGNORECASE,
)
# "twice a week", "in a week", "per week": how often or how soon, not how long
_NOT_STAY = re.compile(
    r"\b(?:once|twice|times|per|every|each|in|within|after|by|than|next|last|this)\s+$",
    re.IGNORECASE,
)
_PART = r"(?:morning|afternoon|evening|night|lunchtime)"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_FREQUENCY = re.compile(
    r"\b(?:daily|weekly|fortnightly|bi-?weekly|monthly|bi-?monthly|quarterly|termly|annually|"
    r"yearly|every\s+(?:other\s+|second\s+)?(?:day|week|month|weekday|weekend|year|"
    rf"{_WEEKDAY}|{_PART})s?(?:\s+{_PART}s?)?|each\s+(?:week|month|term)|"
    r"(?:once|twice|three\s+times|\d+\s+times)\s+a\s+(?:week|month|fortnight|term|year)|"
    rf"(?:on\s+)?{_WEEKDAY}s(?:\s+{_PART}s?)?|(?:on\s+)?{_WEEKDAY}\s+{_PART}s)\b",
    re.IGNORECASE,
)
_SELF = re.compile(r"^(?:me|us|myself|ourselves)\s+and\s+", re.IGNORECASE)
_COMPANY_PHRASE = re.compile(
    r"\b(?:for|with)\s+(.+?)(?=[,.;:!?()\n]|\s+(?:for|with|in|on|at|to|from|by|so|who|"
    r"which|that|budget|under|within)\b|$)",
    re.IGNORECASE,
)


def particulars(description: str) -> Particulars:
    return Particulars(
        place=", ".join(_places(description)),
        length=_stay(description),
        company=_company_of(description),
        frequency=", ".join(_unique(m.group(0) for m in _FREQUENCY.finditer(description))),
    )


def _places(description: str) -> list[str]:
    journey = _JOURNEY.search(description)
    if journey and not {journey.group(1), journey.group(2)} & _NOT_PLACES:
        return [f"from {journey.group(1)} to {journey.group(2)}"]
    found = []
    for match in _NAMED_PLACE.finditer(description):
        words = match.group(1).split()
        while words and words[-1].strip(".") in _NOT_PLACES:
            words.pop()
        if words and words[0] == "the" and len(words) == 1:
            words.pop()
        start = 1 if words and words[0] == "the" else 0
        if words[start:] and words[start].strip(".") not in _NOT_PLACES:
            found.append(" ".join(words).rstrip("."))
    found += [m.group(1) for m in _NAMED_ON.finditer(description)]
    found += [m.group(1) for m in _COMMON_PLACE.finditer(description)]
    unique = _unique(found)
    return [p for p in unique if not any(p != o and p.lower() in o.lower() for o in unique)]


def _stay(description: str) -> str:
    for match in _STAY.finditer(description):
        if _NOT_STAY.search(description[: match.start()]):
            continue
        if match.group(3):
            return f"a {match.group(3).lower()}"
        number, unit = match.group(1).strip(), match.group(2).lower()
        return f"{number} {unit}" if number in {"1", "one"} else f"{number} {unit}s"
    return ""


def _company_of(description: str) -> str:
    for match in _COMPANY_PHRASE.finditer(description):
        phrase = match.group(1).strip()
        # "me and my husband": who comes along with the person writing
        if is_company(_SELF.sub("", phrase)):
            return phrase
    return ""


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.lower(), item)
    return list(seen.values())
