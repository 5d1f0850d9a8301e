"""The quality gate for a model's draft: is it a document, about this project, in its type's
shape, and does it claim only what the brief and upstream deliverables gave?

Failing (the draft is repaired once, then replaced by the offline draft): loops, echoed
instructions, too short, off-topic, most sections missing, or a pile of unsupported claims.
Flagged for a person (kept, but not final): a missing section or term, and numbers, names
or links that neither the brief nor upstream gave.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from berrys.services.catalogue.contracts import DeliverableType, ProjectFacts
from berrys.services.deliverables._checks import placeholders, section_bodies
from berrys.services.deliverables._drafting import MONTHS, contains_term, document_title
from berrys.services.deliverables._prompts import facts_block, outline_block
from berrys.services.deliverables.contracts import Finding, GateResult

# Thresholds (benchmarks/deliverables_gate.py measures them on good and bad drafts).
DUPLICATE_LINES = 0.25  # share of repeated lines that fails
DISTINCT_4GRAMS = 0.55  # distinct 4-gram ratio below which it fails
ECHO_RUN = 7  # words copied in a row from the instructions
ECHO_SHARE = 0.35  # share of the draft copied from the prompt's instructions and facts
MIN_WORDS = 40
WORDS_PER_SECTION = 8
MAX_WORDS = 8000
UNSUPPORTED_FAIL = 6  # unsupported numbers + names + links that fail outright
LINKS_FAIL = 3


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TOKEN = re.compile(r"[a-z0-9]+(?:['\u2019][a-z]+)?")
_URL = re.compile(
    r"\bhttps?://[^\s)\]>\"'`]+|\bwww\.[^\s)\]>\"'`]+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|dev|app|co\.uk|org\.uk|uk|eu|info)\b"
    r"(?:/[^\s)\]>\"'`]*)?"
    r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(?<![\w.])(?:[£$€]\s?)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?::\d{2})?"
    r"(?:\s?(?:%|k\b|m\b|bn\b|am\b|pm\b))?"
)
_LIST_MARKER = re.compile(r"^\s*(?:>\s*)?(?:[-*+]\s+)?(?:\[[ xX]\]\s+)?(?:\d+[.)]\s+|#+\s)?")
_CAPITAL = re.compile(r"\b[A-Z][a-zA-Z\u2019'&-]*[a-zA-Z]\b")
COMMON = _wordset(
    """
    a about above after again all also an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just let me more most my no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yes ok okay please thank thanks note notes
    dear hello hi everyone all welcome today tomorrow tonight next last first second third
    final new every each many much one two three four five six seven eight nine ten
    mr mrs ms dr st
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    uk eu us usa gb english
    python flask fastapi django pytest sqlite postgresql postgres mysql docker git github
    gitlab json csv xlsx ics html css javascript typescript node npm pip api apis url urls
    http https rest sql yaml markdown readme excel word pdf google microsoft apple android
    ios linux windows macos email facebook instagram twitter linkedin whatsapp youtube
    tiktok zoom teams slack mailchimp eventbrite wifi qr faq faqs todo todos gdpr ok
    """
)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


# --- what the brief supports -----------------------------------------------------------------


def _date_words(value: date) -> list[str]:
    return [
        value.isoformat(),
        str(value.day),
        str(value.month),
        str(value.year),
        f"{value.day:02d}",
        f"{value.month:02d}",
        MONTHS[value.month - 1],
        f"{value:%A}",
    ]


def brief_texts(deliverable: DeliverableType, facts: ProjectFacts) -> list[str]:
    """Everything a draft may draw on: the project's facts, upstream deliverables and the
    type's outline, and the document's title as the prompt gives it (the draft's ``# `` line)."""
    texts = [document_title(deliverable, facts), facts.title, facts.description]
    texts += [*facts.project_types, *facts.entities]
    texts += [f"{c.value:g} {c.unit} {c.text}" for c in facts.constraints]
    texts += [f"{m.name} {m.role}" for m in facts.team]
    texts += [r.text for r in facts.requirements]
    texts += [f"{r.risk} {r.mitigation}" for r in facts.risks]
    for task in facts.schedule:
        texts.append(f"{task.name} {task.agent or ''} {task.hours:g}")
        for value in (task.start, task.finish):
            if value is not None:
                texts.append(" ".join(_date_words(value)))
    for value in (facts.start, facts.finish):
        if value is not None:
            texts.append(" ".join(_date_words(value)))
    texts += list(facts.upstream.values()) + list(facts.upstream)
    # The facts and the outline as the prompt words them (a draft may follow either).
    texts += ["\n".join(facts_block(facts)), "\n".join(outline_block(deliverable))]
    return texts + outline_texts(deliverable)


def outline_texts(deliverable: DeliverableType) -> list[str]:
    texts = [deliverable.title, deliverable.summary, *deliverable.acceptance]
    for section in deliverable.sections:
        texts += [section.heading, section.guidance, section.owner]
        texts += [*section.standard, *section.todos, *section.must_contain]
        texts += [item for items in section.todos_unless_known.values() for item in items]
    texts += [c.name for c in deliverable.columns]
    texts += [cell for row in deliverable.rows for cell in row]
    return texts


def _number_value(token: str) -> str | None:
    text = token.lower().replace(",", "").replace(" ", "")
    text = text.lstrip("£$€")
    if ":" in text:
        return text.rstrip("apm")
    multiplier = 1.0
    for suffix, factor in (("bn", 1e9), ("k", 1e3), ("m", 1e6), ("%", 1.0)):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            multiplier = factor
            break
    text = text.rstrip("apm")
    try:
        value = float(text) * multiplier
    except ValueError:
        return None
    return f"{value:g}"


def supported_numbers(texts: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        for match in _NUMBER.finditer(text):
            value = _number_value(match.group(0))
            if value is not None:
                found.add(value)
                if ":" not in value:
                    found.add(f"{float(value):g}")
    return found


def _claims(line: str) -> str:
    """What a line claims: not a heading, and not a TODO's request for what is missing."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return ""
    return line.split("TODO(", 1)[0]


def unsupported_numbers(text: str, supported: set[str]) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        body = _LIST_MARKER.sub("", _claims(line), count=1)
        for match in _NUMBER.finditer(body):
            token = match.group(0).strip()
            value = _number_value(token)
            if value is None:
                continue
            plain = not re.search(r"[£$€%:]|am|pm|k$|m$|bn$", token.lower())
            if plain and ":" not in value and float(value) <= 10 and float(value).is_integer():
                continue  # small counts: "3 steps", "2 reminders"
            if value in supported or token in found:
                continue
            found.append(token)
    return found


def unsupported_links(text: str, brief: str) -> list[str]:
    found = []
    lowered = brief.lower()
    for match in _URL.finditer(text):
        link = match.group(0).rstrip(".,;:")
        host = re.sub(r"^https?://|^www\.", "", link.lower()).split("/")[0]
        if link.lower() in lowered or host in lowered or "todo" in link.lower():
            continue
        if link not in found:
            found.append(link)
    return found


def unsupported_names(text: str, vocabulary: set[str]) -> list[str]:
    """Capitalised words mid-sentence that neither the brief, common words, nor the draft's
    own lower-case words account for: people, places, organisations the model made up. Each
    is reported with the capitalised words beside it (``Grand Riverside Conference Centre``)."""
    # Words the draft itself uses in lower case (outside links: "hollis-bakery.com" does not
    # make "Hollis" a common word).
    lower_words = set(_TOKEN.findall(_URL.sub(" ", text)))

    def unknown(word: str) -> bool:
        key = re.sub(r"'s$", "", word.lower().replace("\u2019", "'"))
        parts = [p for p in re.split(r"['&-]", key) if p]
        if word.isupper() and len(word) <= 5:
            return False  # an acronym (RSVP, AV, DBS)
        return not all(p in vocabulary or p in COMMON or p in lower_words for p in parts)

    found: list[str] = []
    for line in text.splitlines():
        body = _LIST_MARKER.sub("", _claims(line), count=1)
        body = re.sub(r"[*_`>]+", " ", body)
        body = _URL.sub(" ", body)
        runs: list[list[re.Match[str]]] = []
        for match in _CAPITAL.finditer(body):
            if runs and body[runs[-1][-1].end() : match.start()].strip() == "":
                runs[-1].append(match)
            else:
                runs.append([match])
        for run in runs:
            flagged = False
            for match in run:
                before = body[: match.start()].rstrip()
                initial = (
                    not before
                    or before[-1] in ".!?:;|([\u201c\"'\u2014\u2013-"
                    or before.endswith("...")
                )
                flagged = flagged or (not initial and unknown(match.group(0)))
            name = " ".join(match.group(0) for match in run)
            if flagged and name not in found:
                found.append(name)
    return found


# --- repetition, echo, coverage --------------------------------------------------------------


def _content_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        norm = re.sub(r"\s+", " ", line.strip().lower())
        if re.search(r"[a-z0-9]", norm) and not re.fullmatch(r"[|:\- ]+", norm):
            lines.append(norm)
    return lines


def repetition(text: str) -> tuple[float, float]:
    """(share of lines that repeat an earlier line, distinct 4-gram ratio)."""
    lines = _content_lines(text)
    duplicate = 1 - len(set(lines)) / len(lines) if len(lines) >= 4 else 0.0
    grams = _ngrams(_tokens(text), 4)
    distinct = len(set(grams)) / len(grams) if len(grams) >= 20 else 1.0
    return duplicate, distinct


def echo(text: str, prompt: str, allowed: Iterable[str], *, n: int = 5) -> tuple[str, float]:
    """(the longest run copied from the prompt's instructions, share of the draft copied from
    the prompt); runs the outline and facts account for are allowed."""
    words = _tokens(text)
    prompt_grams = set(_ngrams(_tokens(prompt), n))
    allowed_grams: set[tuple[str, ...]] = set()
    for item in allowed:
        allowed_grams.update(_ngrams(_tokens(item), n))
    instruction = prompt_grams - allowed_grams
    longest: list[str] = []
    run_start = None
    copied = [False] * len(words)
    for i, gram in enumerate(_ngrams(words, n)):
        if gram in prompt_grams:
            for k in range(i, i + n):
                copied[k] = True
        if gram in instruction:
            if run_start is None:
                run_start = i
            run = words[run_start : i + n]
            if len(run) > len(longest):
                longest = run
        else:
            run_start = None
    share = sum(copied) / len(words) if words else 0.0
    return " ".join(longest), share


_GENERIC = _wordset(
    "project plan new launch write draft create make build organise organize run set up "
    "website site app our my the a an for of and to with"
)


def key_terms(facts: ProjectFacts) -> list[str]:
    """The words that say what this project is about (its title's distinctive words)."""
    terms = []
    for word in _tokens(facts.title):
        if len(word) > 2 and word not in COMMON and word not in _GENERIC and word not in terms:
            terms.append(word)
    if not terms:
        terms = [w for w in _tokens(facts.title) if len(w) > 2 and w not in COMMON][:3]
    return terms


# --- the gate --------------------------------------------------------------------------------


def screen(text: str, *, prompt: str, allowed: Iterable[str] = ()) -> GateResult:
    """The checks a free-form answer (a task with no deliverable type) can take without an
    outline or the project's facts: loops, and the prompt's instructions echoed back."""
    findings = _loops(text, *repetition(text))
    longest, _ = echo(text, prompt, allowed)
    if len(longest.split()) >= ECHO_RUN:
        findings.append(
            Finding(check="echo", message=f"Copies the instructions: \u201c{longest[:120]}\u201d")
        )
    return GateResult(passed=not findings, findings=findings)


def gate(
    text: str, *, deliverable: DeliverableType, facts: ProjectFacts, prompt: str
) -> GateResult:
    """Check a model's draft; ``passed`` is False when it must be repaired or replaced."""
    words = _tokens(text)
    duplicate, distinct = repetition(text)
    brief = brief_texts(deliverable, facts)
    longest, copied = echo(text, prompt, brief)
    unsupported, invented = _unsupported(text, brief)
    findings = [
        *_loops(text, duplicate, distinct),
        *_echoed(longest, copied, len(words)),
        *_length(len(words), deliverable),
        *_coverage(words, facts),
        *_structure(text, deliverable),
        *_unmarked_placeholders(text),
        *unsupported,
    ]
    return GateResult(
        passed=not any(f.severity == "fail" for f in findings),
        findings=findings,
        metrics={
            "words": float(len(words)),
            "duplicate_lines": round(duplicate, 4),
            "distinct_4grams": round(distinct, 4),
            "echo_run": float(len(longest.split())),
            "copied": round(copied, 4),
            "unsupported": float(invented),
        },
    )


def _fail(check: str, message: str) -> Finding:
    return Finding(check=check, message=message, severity="fail")


def _flag(check: str, message: str) -> Finding:
    """Kept, but a person must look at it before it is final."""
    return Finding(check=check, message=message, severity="review")


def _loops(text: str, duplicate: float, distinct: float) -> list[Finding]:
    """A draft that loops: too many repeated lines, or too few distinct four-word phrases."""
    if duplicate > DUPLICATE_LINES:
        lines = _content_lines(text)
        repeated = len(lines) - len(set(lines))
        return [
            _fail("repetition", f"Repeats itself: {repeated} of {len(lines)} lines are repeats")
        ]
    if distinct < DISTINCT_4GRAMS:
        message = f"Repeats itself: only {distinct:.0%} of its four-word phrases are distinct"
        return [_fail("repetition", message)]
    return []


def _echoed(longest: str, copied: float, words: int) -> list[Finding]:
    """A draft that copies its instructions or its brief back."""
    if len(longest.split()) >= ECHO_RUN:
        return [_fail("echo", f"Copies the instructions: \u201c{longest[:120]}\u201d")]
    if copied > ECHO_SHARE and words >= 20:
        return [_fail("echo", f"Mostly copied from the brief ({copied:.0%} of its words)")]
    return []


def _length(words: int, deliverable: DeliverableType) -> list[Finding]:
    minimum = max(MIN_WORDS, WORDS_PER_SECTION * len(deliverable.sections))
    if words < minimum:
        return [_fail("length", f"Too short: {words} words (at least {minimum} expected)")]
    if words > MAX_WORDS:
        return [_flag("length", f"Very long: {words} words")]
    return []


def _coverage(words: list[str], facts: ProjectFacts) -> list[Finding]:
    """A draft that never names what the project is about is off-topic."""
    terms = key_terms(facts)
    lowered = " ".join(words)
    present = [t for t in terms if re.search(rf"\b{re.escape(t)}", lowered)]
    if terms and not present:
        return [_fail("coverage", f"Off-topic: never mentions {', '.join(terms[:4])}")]
    return []


def _structure(text: str, deliverable: DeliverableType) -> list[Finding]:
    """The type's outline: its sections (a document or code), else its columns (a table)."""
    if deliverable.format in ("markdown", "code") and deliverable.sections:
        return _sections(text, deliverable)
    if deliverable.columns:
        header = text.strip().splitlines()[0] if text.strip() else ""
        missing = [c.name for c in deliverable.columns if c.name.lower() not in header.lower()]
        if missing:
            return [_fail("structure", f"Missing columns: {', '.join(missing)}")]
    return []


def _sections(text: str, deliverable: DeliverableType) -> list[Finding]:
    """Most sections missing fails; a missing section or a term a section lacks is flagged."""
    sections = deliverable.sections
    bodies = section_bodies(text, sections)
    missing = [heading for heading, body in bodies.items() if body is None]
    findings = []
    if len(missing) * 3 > len(sections):
        findings.append(
            _fail(
                "structure", f"Not in the {deliverable.title} outline: missing {', '.join(missing)}"
            )
        )
    elif missing:
        findings.append(_flag("structure", f"Missing sections: {', '.join(missing)}"))
    lacking = [
        f"{term} ({section.heading})"
        for section in sections
        if bodies.get(section.heading) is not None
        for term in section.must_contain
        if not contains_term(bodies[section.heading] or "", term)
    ]
    if lacking:
        findings.append(_flag("structure", f"Does not cover: {', '.join(lacking[:6])}"))
    return findings


def _unmarked_placeholders(text: str) -> list[Finding]:
    left = placeholders(text)
    if left:
        return [_flag("placeholder", f"Placeholders not marked TODO: {', '.join(left[:5])}")]
    return []


def _unsupported(text: str, brief: list[str]) -> tuple[list[Finding], int]:
    """Numbers, names and links that neither the brief nor upstream gave: the findings, and
    how many there are (a pile of them fails)."""
    joined = "\n".join(brief)
    numbers = unsupported_numbers(text, supported_numbers(brief))
    names = unsupported_names(text, set(_tokens(joined)))
    links = unsupported_links(text, joined)
    findings = []
    if numbers:
        findings.append(
            _flag("unsupported", f"Numbers the brief does not give: {', '.join(numbers[:8])}")
        )
    if names:
        findings.append(
            _flag("unsupported", f"Names the brief does not give: {', '.join(names[:8])}")
        )
    if links:
        findings.append(
            _flag("unsupported", f"Links the brief does not give: {', '.join(links[:5])}")
        )
    invented = len(numbers) + len(names) + len(links)
    if invented >= UNSUPPORTED_FAIL or len(links) >= LINKS_FAIL:
        findings.append(_fail("unsupported", f"Makes up {invented} facts the brief does not give"))
    return findings, invented
