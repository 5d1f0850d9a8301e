"""Reading a description: signal terms, the person's own asks, the numbers it gives, and a
short title. Pure functions, no model: the offline understanding and the checks of a model's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from berrys.services.catalogue.contracts import Constraint

_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def term_pattern(term: str) -> re.Pattern[str]:
    """A catalogue term as a regex: case-insensitive, on word boundaries, ``*`` = any ending,
    ``~`` = up to three words in between ("build ~ website"), spaces and hyphens alike; the
    last word may take -s, -es, -ed or -ing."""
    wild = term.endswith("*")
    words = term.rstrip("*").strip().lower().replace("-", " ").split()
    body = r"[\s-]+".join(
        "(?:[\\w'\u2019]+[\\s-]+){0,3}?" if word == "~" else re.escape(word) for word in words
    ).replace(r"?[\s-]+", "?")
    ending = r"\w*" if wild else "(?:s|es|ed|ing)?"  # simple inflections of the last word
    return re.compile(rf"(?<!\w){body}{ending}(?!\w)", re.IGNORECASE)


def matched(text: str, terms: Iterable[str]) -> list[str]:
    """The terms found in ``text``, in the order given, each once; a term found only inside
    another's match ("campaign" in "launch campaign") does not count again."""
    return list(matched_spans(text, terms))


def matched_spans(text: str, terms: Iterable[str]) -> dict[str, list[tuple[int, int]]]:
    """Each term found in ``text`` with the spans where it counts (not inside another's)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for term in dict.fromkeys(terms):
        found = [m.span() for m in term_pattern(term).finditer(text)]
        if found:
            spans[term] = found
    covered = [span for found in spans.values() for span in found]
    counted = {
        term: [
            own
            for own in found
            if not any(o != own and o[0] <= own[0] and own[1] <= o[1] for o in covered)
        ]
        for term, found in spans.items()
    }
    return {term: found for term, found in counted.items() if found}


_OWNED = re.compile(
    r"(?:\b(?:our|my|your|their|his|her|its|existing|current)\s+(?:\S+\s+){0,2})$", re.I
)


def owned(text: str, span: tuple[int, int]) -> bool:
    """Whether the words at ``span`` name something the person already has ("our Rails app",
    "my sister's wedding"): it is what the work is on, not what it builds."""
    return bool(_OWNED.search(text[: span[0]]))


_OCCASION = re.compile(r"\bfor\s+(?:my|our|your|their|his|her)\s+(?:\S+\s+){0,3}$", re.I)


def occasion(text: str, span: tuple[int, int]) -> bool:
    """Whether the words at ``span`` name the occasion the work is for ("a week in Rome for
    my parents' 40th wedding anniversary"): why it is done, not what is done."""
    return bool(_OCCASION.search(text[: span[0]]))


# --- the person's asks ----------------------------------------------------------------------

_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
_LIST_SPLIT = re.compile(
    r"\s*(?:,(?!\d{3})|;|\band also\b|\bas well as\b|\bplus\b|\band\b|\s&\s)\s*", re.I
)
_LEAD = re.compile(r"^(?:and|also|then|with|including|plus)\s+", re.I)
_ARTICLE = re.compile(r"^(?:a|an|the|our|my|some)\s+", re.I)
_LIST_INTRO = re.compile(r":|\b(?:with|including|covering|such as)\b", re.I)
_TOPIC_WITH = re.compile(r"\b(?:about|on|for|in|of|to)\s+[a-z]+ing\s+with$", re.I)


def sentences(text: str) -> list[str]:
    pieces = (p.strip(" -*•\t").rstrip(".!?;").strip() for p in _SENTENCES.split(text))
    return [p for p in pieces if len(p) > 2]


def asks(description: str) -> tuple[list[str], list[str]]:
    """(main clauses, listed asks): each sentence's goal, and the items it lists after a
    colon, "with" or "including" ("volunteers, publicity, safety checks and a booking form")."""
    goals: list[str] = []
    items: list[str] = []
    for sentence in sentences(description):
        intro = _LIST_INTRO.search(sentence)
        if intro and _TOPIC_WITH.search(sentence[: intro.end()]):
            intro = None  # "about composting with worms": the topic, not a list of asks
        head, tail = (
            (sentence[: intro.start()], sentence[intro.end() :]) if intro else (sentence, "")
        )
        head = _POLITE.sub("", head.strip(" ,")).strip()
        head = head[:1].upper() + head[1:]
        if len(head.split()) >= 2:
            goals.append(head)
        parts = [_LEAD.sub("", p).strip(" .") for p in _LIST_SPLIT.split(tail)] if tail else []
        parts = [
            _ARTICLE.sub("", p)
            for p in parts
            if not _MONEY.search(p) and not _headcount(p) and not is_company(p)
        ]
        items += [p for p in parts if 1 <= len(p.split()) <= 8 and len(p) > 2]
    return goals, list(dict.fromkeys(items))


_PURPOSE = re.compile(
    r"\b(?:so that|so|where|that lets|that allows|which lets|to help|to let|in order to|to)\s+"
    r"(?P<what>(?:[\w'\u2019-]+\s*){2,12})",
    re.I,
)
_NOT_PURPOSE = re.compile(
    r"^(?:the|a|an|our|my|your|their|his|her|its|this|that|these|those|each|every|all|some|"
    r"be)\b"
)


def purposes(goal: str) -> list[str]:
    """What a goal is for, in its own words ("to track book loans" -> "Track book loans"):
    a stated requirement, not a separate piece of work."""
    found = []
    for match in _PURPOSE.finditer(goal):
        what = match.group("what").strip(" ,.")
        # a purpose starts with a lower-case word ("to track"), a destination does not
        # ("to Microsoft 365", "to the cloud")
        if what[:1].islower() and not _NOT_PURPOSE.match(what) and len(what.split()) >= 2:
            found.append(what[0].upper() + what[1:])
    return found


# --- numbers --------------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1, "single": 1, "two": 2, "couple of": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12, "dozen": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "hundred": 100, "a hundred": 100, "thousand": 1000, "a thousand": 1000,
}  # fmt: skip
NUMBER = (
    r"(\d[\d,]*(?:\.\d+)?\s*[km]?|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
)
_UNITS: dict[str, str] = {
    "people": r"people|persons?|attendees|guests|participants|visitors|delegates|users|"
    r"customers|members|students|staff|employees|players|learners|readers|subscribers|"
    r"person|attendee|guest|participant|user|customer|member|student|employee|friends|"
    r"colleagues|kids|children|adults|families|pupils",
    "days": r"days?|day-long",
    "weeks": r"weeks?|week-long",
    "months": r"months?",
    "pages": r"pages?|page-long",
    "screens": r"screens?|views",
    "integrations": r"integrations?|third-party services|external systems|apis",
    "languages": r"languages?|locales?",
    "entities": r"entities|tables|data models|models|record types",
    "words": r"words?|word-long",
    "products": r"products?|items|skus?|listings",
    "sources": r"papers|sources|studies|articles|documents|references|datasets|contracts",
    "locations": r"locations?|sites?|branches|venues|offices|stores|shops|countries",
    "endpoints": r"endpoints?|routes|operations",
    "services": r"services|servers|vms|virtual machines|applications|apps|databases|workloads",
    "sessions": r"sessions?|lessons?|classes",
    "episodes": r"episodes?|videos",
}
_QUANTITY = {
    dimension: re.compile(rf"(?<![\w£$€]){NUMBER}[\s-]*(?:\w+[\s-]+)?(?:{unit})\b", re.I)
    for dimension, unit in _UNITS.items()
}
# "£500 each" keeps its "each" in the quoted words: a budget per person is not the total
_MONEY = re.compile(
    r"(?:(?P<sym>[£$€])\s?(?P<a>\d[\d,]*(?:\.\d+)?)\s*(?P<ka>[km])?\b|"
    r"(?P<b>\d[\d,]*(?:\.\d+)?)\s*(?P<kb>[km])?\s*(?P<word>pounds|dollars|euros|usd|gbp|eur)\b)"
    r"(?:\s*(?:each|per person|per head|a head|a person)\b)?",
    re.I,
)
_RAISED = re.compile(
    r"\b(?:raise|raising|raised|target of|goal of|aim of)\s+"
    r"(?:about|around|over|up to|at least)?\s*$",
    re.I,
)
_CURRENCY = {"£": "GBP", "$": "USD", "€": "EUR", "pounds": "GBP", "dollars": "USD", "euros": "EUR"}
LANGUAGE_NAMES = (
    "French", "German", "Spanish", "Italian", "Portuguese", "Dutch", "Polish", "Japanese",
    "Chinese", "Mandarin", "Cantonese", "Korean", "Arabic", "Hindi", "Welsh", "Irish", "Russian",
    "Turkish", "Swedish", "Norwegian", "Danish", "Finnish", "Greek", "Czech", "Ukrainian",
    "Vietnamese", "Thai", "Indonesian", "Hebrew", "Bengali", "Urdu", "Romanian", "Hungarian",
    "Catalan", "Basque", "Tamil", "Swahili", "Malay", "Tagalog", "Persian", "Farsi", "Gaelic",
)  # fmt: skip


_MORE_PEOPLE = re.compile(
    rf"\s*(?:,|\band\b)\s*(?:{NUMBER}|an?)\s+(?:{_UNITS['people']}|toddlers?|babies|baby)\b",
    re.I,
)
_CROWD = re.compile(
    r"\bfor\s+(?:about|around|roughly|some|up to|over|nearly)?\s*(\d{1,6})\s+[a-z]+s\b", re.I
)
_ROUGHLY = re.compile(r"^(?:about|around|roughly|approximately|some|up to|over|nearly)\s+", re.I)


# "an Italian restaurant", "French wine": a cuisine, a style or a place, not a language
_NOT_A_LANGUAGE = re.compile(
    r"[\s-]+(?:restaurants?|food|cuisine|dinner|lunch|meal|dishes|wines?|cheeses?|bakery|caf[eé]|"
    r"cooking|recipes?|style|themed|night|evening|market|villa|coast|riviera|alps|holiday|trip|"
    r"countryside|football|cars?|breakfast|bread|pastr(?:y|ies)|film|cinema)\b",
    re.I,
)


def _named(name: str, text: str) -> list[re.Match[str]]:
    return list(term_pattern(name).finditer(text))


def _headcount(item: str) -> bool:
    """A listed item that is only a number of something ("about 90 students"): a size, not
    an ask."""
    bare = _ROUGHLY.sub("", item.strip())
    return any(p.fullmatch(bare) for p in _QUANTITY.values())


_COMPANY = re.compile(
    r"(?:[\w'-]+\s+){0,3}(?:children|child|kids?|babies|baby|toddlers?|teenagers?|adults?|"
    r"family|families|friends?|partner|wife|husband|parents?|grandparents?|relatives|dogs?|"
    r"cats?|pets?|puppy|kitten|scouts|guides|brownies|cubs|club|society|group|team|choir|"
    r"band|crew|neighbou?rs|residents|locals|pupils|students|class|classes|colleagues|owners)",
    re.I,
)


def is_company(item: str) -> bool:
    """A listed item that is who comes along or takes part ("two children and a dog", "the
    scouts on a Saturday morning"): whom the work is with, not an ask."""
    words = _ARTICLE.sub("", item.strip()).split()
    end = next((i for i, word in enumerate(words) if word.lower() in PHRASE_STARTS), None)
    return bool(_COMPANY.fullmatch(" ".join(words[:end])))


def _number(text: str) -> float | None:
    text = text.strip().lower()
    if text in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[text])
    multiplier = 1000.0 if text.endswith("k") else 1_000_000.0 if text.endswith("m") else 1.0
    digits = text.rstrip("km").strip().replace(",", "")
    try:
        return float(digits) * multiplier
    except ValueError:
        return None


def constraints(description: str) -> list[Constraint]:
    """The sizes and budget the description states, each with the words it came from."""
    found: dict[str, Constraint] = {}
    candidates = [
        (match, dimension) for dimension, pattern in _QUANTITY.items()
        for match in pattern.finditer(description)
    ]  # fmt: skip
    # A number belongs to the unit right after it before one a word further on ("a 40-page
    # employee handbook" is 40 pages, not 40 employees).
    candidates.sort(key=lambda item: item[0].end() - item[0].start())
    claimed: set[int] = set()
    for match, dimension in candidates:
        value = _number(match.group(1))
        if value is None or value <= 0 or dimension in found or match.start(1) in claimed:
            continue
        claimed.add(match.start(1))
        text = match.group(0)
        if dimension == "people":  # "two adults and three children": five people
            end = match.end()
            while more := _MORE_PEOPLE.match(description, end):
                value += _number(more.group(1) or "one") or 0  # "and a toddler": one
                text, end = text + more.group(0), more.end()
        found[dimension] = Constraint(dimension=dimension, value=value, text=text)
    _fold_calendar(found)
    if "people" not in found:  # "for around 80 gardeners": people, whatever they are called
        crowd = _CROWD.search(description)
        if crowd and crowd.start(1) not in claimed:
            found["people"] = Constraint(
                dimension="people", value=float(crowd.group(1)), text=crowd.group(0).strip()
            )
    languages = [
        name
        for name in LANGUAGE_NAMES
        if any(not _NOT_A_LANGUAGE.match(description, m.end()) for m in _named(name, description))
    ]
    if "languages" not in found and languages:
        found["languages"] = Constraint(
            dimension="languages", value=float(len(languages)), text=", ".join(languages)
        )
    # "to raise £500" is what the event is for, not what it may spend
    money = next(
        (m for m in _MONEY.finditer(description) if not _RAISED.search(description[: m.start()])),
        None,
    )
    if money:
        amount = _number(
            (money.group("a") or money.group("b")) + (money.group("ka") or money.group("kb") or "")
        )
        unit = _CURRENCY.get(money.group("sym") or (money.group("word") or "").lower(), "")
        unit = unit or (money.group("word") or "").upper()
        if amount:
            found["budget"] = Constraint(
                dimension="budget", value=amount, unit=unit, text=money.group(0).strip()
            )
    return list(found.values())


def _fold_calendar(found: dict[str, Constraint]) -> None:
    """Weeks and months become working days (5 a week)."""
    for dimension, per in (("weeks", 5.0), ("months", 21.0)):
        item = found.pop(dimension, None)
        if item is not None and "days" not in found:
            found["days"] = Constraint(
                dimension="days", value=item.value * per, unit="working days", text=item.text
            )


# --- the title ------------------------------------------------------------------------------

TITLE_LIMIT = 60
_POLITE = re.compile(
    r"^(?:(?:please|we're|we are|i'm|i am|we|i|i'd|we'd|let's|let us|help me|help us|"
    r"can you|could you|needs? to|"
    r"needs?|wants? to|wants?|would like to|would like|like to|have to|to|must|should)\s+)+"
    r"(?:(?:a|an|some)\s+(?=\S+\s))?",
    re.I,
)
_BREAK = re.compile("\\s*(?:[:;(]|\\s[-\u2013\u2014]\\s)\\s*")
_LINKS = {
    "a", "an", "the", "and", "or", "of", "for", "to", "with", "in", "on", "at", "by", "from",
    "our", "my", "your", "their", "its", "that", "which", "who", "into", "about", "as", "so",
    "but", "we", "is", "are", "be", "new", "each", "every", "all", "any",
}  # fmt: skip
# A phrase starts at these words: a title is cut just before one, never inside a phrase.
PHRASE_STARTS = {
    "for", "to", "with", "in", "on", "at", "by", "from", "that", "which", "who", "and", "or",
    "so", "where", "using", "over", "within", "including", "into", "about", "across",
    "before", "after", "while",
    "without", "so that", "because", "via", "through", "during", "of",
}  # fmt: skip


_CLAUSES = {"so", "because", "while", "when", "if", "unless"}


def title(description: str) -> str:
    """A short title (at most 60 characters) cut only where a phrase ends, keeping what the
    work is for ("Launch plan for a neighbourhood bakery's new website")."""
    found = sentences(description)
    first = found[0] if found else description.strip()
    clause = _BREAK.split(first, maxsplit=1)[0].strip()
    clause = _POLITE.sub("", clause).strip() or clause
    words = clause.split()
    if not words:
        return "Untitled project"
    best = " ".join(words) if len(clause) <= TITLE_LIMIT else _for_whom(words)
    best = (best or _cut(words) or _first_words(words)).strip(" .,")
    if not best:
        return "Untitled project"
    keep = len(best) > 1 and best[1].isupper()  # "iOS app", "eBay shop"
    return best if keep else best[0].upper() + best[1:]


def _cut(words: list[str]) -> str:
    """The longest start of ``words`` within the limit that ends where a phrase ends."""
    # never inside an adverbial clause: "booking system so members" says nothing
    last = next((i for i in range(1, len(words)) if words[i].lower() in _CLAUSES), len(words))
    ends = [
        i for i in range(1, last) if words[i].lower() in PHRASE_STARTS or words[i - 1].endswith(",")
    ] + [last]
    fitting = [
        " ".join(words[:end]).rstrip(",")
        for end in ends
        if len(" ".join(words[:end])) <= TITLE_LIMIT and words[end - 1].lower() not in _LINKS
    ]
    return fitting[-1] if fitting else ""


def _for_whom(words: list[str]) -> str:
    """ "<what> for <whom>" with the opening verb dropped and the what shortened to its first
    part when the whole does not fit ("Launch plan for a neighbourhood bakery's website")."""
    lowered = [w.lower() for w in words]
    if "for" not in lowered[1:]:
        return ""
    at = lowered.index("for", 1)
    what, rest = words[:at], words[at + 1 :]
    end = next((i for i, w in enumerate(rest) if w.lower() in PHRASE_STARTS), len(rest))
    # "for me and my husband, Tokyo and Kyoto": whom runs to the comma when it fits
    comma = next((i + 1 for i, w in enumerate(rest) if w.endswith(",")), 0)
    whoms = [[*rest[: comma - 1], rest[comma - 1].rstrip(",")]] if comma > end else []
    if not any(w.endswith(",") for w in rest[: end - 1]):  # never half a list: "sales, support"
        whoms.append([w.rstrip(",") for w in rest[:end]])
    if len(what) > 1 and what[0].lower() in _OPENING_VERBS:
        what = what[1:]
        # the verb's particle goes with it: "set up a shop", "draw up a plan"
        if len(what) > 1 and what[0].lower() in _PARTICLES:
            what = what[1:]
    what = _ARTICLE.sub("", " ".join(what)).split()
    first = what[: next((i for i, w in enumerate(what) if w.lower() in ("and", "or")), len(what))]
    for head in (what, first):
        for tail in [
            form for whom in whoms for form in (whom, _ARTICLE.sub("", " ".join(whom)).split())
        ]:
            candidate = " ".join([*head, "for", *tail])
            if head and tail and len(candidate) <= TITLE_LIMIT and tail[-1].lower() not in _LINKS:
                return candidate
    return ""


_OPENING_VERBS = {
    "build", "create", "make", "write", "draft", "design", "develop", "plan", "organise",
    "organize", "prepare", "produce", "run", "set", "launch", "translate", "review", "audit",
    "draw", "put", "lay", "sort",
}  # fmt: skip
_PARTICLES = {"up", "out", "together"}


def _first_words(words: list[str]) -> str:
    """The longest run of whole words within the limit that ends on a content word."""
    for end in range(len(words), 0, -1):
        candidate = " ".join(words[:end])
        if len(candidate) <= TITLE_LIMIT and words[end - 1].lower() not in _LINKS:
            return candidate
    return words[0][:TITLE_LIMIT] if words else ""
