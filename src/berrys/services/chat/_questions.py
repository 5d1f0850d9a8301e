"""Questions and requests: how Berry tells a question from an instruction, and what a
question asks about.

A message is read clause by clause. A clause that asks (what / which / who / why / how /
is ... / show me / tell me ...) is a question: it is answered from the data and never changes
anything. Only a clause that asks Berry to do something ("plan it", "can you start the run?",
"please regenerate the team") can lead to an action, and then only through the explicit verbs
below; the costly or destructive ones still ask for a yes.
"""

from __future__ import annotations

import re

from berrys.services.chat.contracts import ChatIntent

Intent = ChatIntent
_QUOTES = "\"'\u201c\u201d\u2018\u2019"

_LEAD = (
    r"^\s*(?:(?:so|and|but|ok|okay|hey|hi|berry|now|then|also|well|right|alright|great|cool"
    r"|thanks|next|first|finally)\b[\s,!:-]*)*"
)
_ASKING = re.compile(
    _LEAD + r"(?:what|what's|whats|which|who|who's|whom|whose|why|how|how's|when|where|where's"
    r"|is|isn't|are|aren't|was|were|am|do|does|did|didn't|has|hasn't|have|haven't|had|should"
    r"|shall|may|might|any|anything|tell\s+me|show|list|explain|give\s+me|describe"
    r"|summari[sz]e|remind\s+me|i\s+wonder|i\s+(?:want|would\s+like|'d\s+like)\s+to"
    r"\s+(?:know|see|understand))\b",
    re.IGNORECASE,
)
_POLITE = re.compile(
    _LEAD + r"(?:(?:please\s+)?(?:can|could|would|will|won't|can't)\s+(?:you|u)\b(?:\s+please)?"
    r"|please|let's|lets|let\s+us|go\s+ahead\s+and|i\s+(?:want|need|would\s+like|'d\s+like)"
    r"(?:\s+you)?\s+to|time\s+to)\s*",
    re.IGNORECASE,
)
_TELLING = re.compile(
    r"^(?:tell|show|list|explain|give\s+me|describe|summari[sz]e|remind)\b", re.IGNORECASE
)
# The verbs of each action, at the head of a request ("plan it", "make a schedule").
_PLAN_ACTION = re.compile(
    r"^re-?plan\b|^plan\b(?!\s*(?:is|was|looks|seems|has|had|for|of|$|[?.!]))"
    r"|^(?:re-?)?draft\b.*\b(?:plan|schedule)"
    r"|^(?:make|create|generate|build|write|produce|prepare|do|redo|update|come\s+up\s+with"
    r"|put\s+together|work\s+out|draw\s+up)\b.*\b(?:plan|schedule|gantt|breakdown)\b"
    r"|^break\s+(?:it|this|that|the\s+\w+)\s+down",
    re.IGNORECASE,
)
_TEAM_ACTION = re.compile(
    r"^(?:re-?)?(?:generate|assemble|build|propose|hire|create|make|form|recruit|suggest"
    r"|put\s+together|set\s+up|redo|staff)\b.*\b(?:team|agents?|crew|staff)\b",
    re.IGNORECASE,
)
_RUN_ACTION = re.compile(
    r"^(?:start|restart|run|rerun|re-run|execute|kick\s*off|launch|begin|go\s+live)\b",
    re.IGNORECASE,
)
HELP = re.compile(
    r"\b(help|what\s+can\s+you\s+do|what\s+do\s+you\s+do|what\s+can\s+i\s+(?:ask|say)"
    r"|commands?)\b",
    re.IGNORECASE,
)
HOW_TO = re.compile(r"\bhow\s+do\s+i\b|\bhow\s+does\s+(?:this|it|berry)\s+work\b", re.I)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening|day)"
    r"|thanks|thank\s+you|cheers)\b",
    re.IGNORECASE,
)
# Questions, most specific first: "which tasks are on the critical path" is about the
# critical path, not the plan; "what did the designer cost" about cost, not deliverables.
QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "critical_path",
            r"critical[\s-]*path|critical\s+tasks?|\bslack\b|\bfloat\b|longest\s+chain"
            r"|(?:drives?|driving|determines?|decides?)\s+the\s+(?:finish|end|deadline|date)"
            r"|when\s+will\s+(?:it|we|this|the\s+project)\s+(?:be\s+)?(?:finish|done|end|complete)",
        ),
        ("risk", r"\brisk|high[\s-]risk|\bdanger|\bunsafe\b|go\s+wrong"),
        (
            "waiting",
            r"waiting\s+(?:for|on)\s+(?:me|us|my)|for\s+me\s+to|\bpending\b|\bapprovals?\b"
            r"|needs?\s+(?:my|a|your|human)?\s*(?:review|approval|answer|attention|input|decision)"
            r"|to\s+review|\binbox\b|my\s+attention|(?:blocked|stuck)\s+on\s+me|sign[\s-]*off"
            r"|\bneed\s+me\b|\bon\s+my\s+(?:plate|side|desk)",
        ),
        (
            "cost",
            r"\bcost|\bspen[dt]|\bspending\b|\bmoney\b|\bbudget|\bprice|\bpricey\b|\bpaid\b"
            r"|\btokens?\b|\busage\b|\bexpens|\$|\bdollars?\b|\bbill(?:ed)?\b|\bcharged?\b",
        ),
        (
            "artifacts",
            r"\bwr[io]te\b|\bwritten\b|\bproduced?\b|\boutputs?\b|\bdeliverables?\b"
            r"|\bartifacts?\b|\bfiles?\b|\bdocuments?\b|\bdrafted\b|\bresults?\b"
            r"|\bdelivered\b|\bcome\s+up\s+with\b|\bcame\s+up\s+with\b",
        ),
        (
            "requirements",
            r"\brequirements?\b|\bscope\b|must[\s-]haves?|\bspecs?\b|\bspecification"
            r"|what\s+(?:did\s+i|i)\s+ask(?:ed)?\s+for",
        ),
        (
            "team",
            r"\bteam\b|\bagents?\b|\bcrew\b|\bstaff\b|\bmembers?\b|\broles?\b"
            r"|\bwho\b.*\b(?:work|working|involved|assigned|doing|on\s+(?:it|this|board))",
        ),
        (
            "overview",
            r"\bhow(?:'s|\s+is|\s+are)?\b.*\b(?:going|doing|progress(?:ing)?|coming\s+along)\b"
            r"|\bstatus\b|\bprogress\b|update\s+me|where\s+are\s+we|how\s+far|\beta\b"
            r"|\bsummary\b|\boverview\b|\b(?:done|finished|ready)\s+yet\b|\bany\s+news\b"
            r"|\bruns?\b",
        ),
        (
            "plan",
            r"\bplan\b|\bschedule\b|\bgantt\b|\btasks?\b|\bmilestones?\b|\bphases?\b"
            r"|\btimeline\b|\broadmap\b|\bsteps?\b|break\s*down|what\s+(?:comes|happens)\s+next"
            r"|\bwhen\s+(?:does|do|will|is|are|should)\b",
        ),
    )
)
QUESTION_NAMES = tuple(name for name, _ in QUESTIONS)
_SUBJECT = re.compile(
    r"\bwhat\s+(?:did|has|have|does)\s+(?:the\s+|our\s+|my\s+)?(?P<did>[\w][\w\s-]*?)\s+"
    r"(?:write|written|wrote|produce|produced|make|made|deliver|delivered|draft|drafted"
    r"|create|created|come\s+up\s+with|done|do|cost)\b"
    r"|(?<![\w'\u2019])(?:the\s+)?(?P<owner>\w+(?:[\s-]\w+){0,2}?)['\u2019]s\s+(?:output|work|deliverables?|artifacts?|files?"
    r"|documents?|writing|drafts?)"
    r"|\bwhy\s+(?:is|was|does)\s+(?:the\s+)?(?:task\s+)?[\"'\u201c\u2018]?(?P<task>.+?)"
    r"[\"'\u201d\u2019]?\s+(?:task\s+)?(?:so\s+|marked\s+|considered\s+|rated\s+)?(?:high|critical"
    r"|risky|a\s+risk|need)",
    re.IGNORECASE,
)
_PRONOUNS = frozenset(
    {"this", "that", "it", "this task", "that task", "the task", "they", "he", "she"}
)


def clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip().strip(_QUOTES).strip()
    return re.sub(r"[.!?]+$", "", text).strip() or None


def clauses(text: str) -> list[str]:
    """The message's sentences, each with its own punctuation."""
    return [c.strip() for c in re.split(r"(?<=[.?!;])\s+|\n+", text) if c.strip()]


def _request(clause: str) -> str | None:
    """What a clause asks Berry to do ("plan it"), None when it asks a question."""
    polite = _POLITE.match(clause)
    if polite and polite.group(0).strip():
        rest = clause[polite.end() :].strip()
        return None if _TELLING.match(rest) else rest
    if _ASKING.match(clause):
        return None
    rest = re.sub(_LEAD, "", clause, count=1).strip()
    return None if rest.endswith("?") and not _PLAN_ACTION.match(rest) else rest


def requested_action(text: str) -> ChatIntent | None:
    """The action a request in ``text`` names explicitly, None for questions and the rest."""
    for clause in clauses(text):
        rest = _request(clause)
        if not rest:
            continue
        for pattern, intent in (
            (_TEAM_ACTION, Intent.GENERATE_TEAM),
            (_PLAN_ACTION, Intent.PLAN),
            (_RUN_ACTION, Intent.START_RUN),
        ):
            if pattern.search(rest):
                return intent
    return None


def is_question(text: str) -> bool:
    """Whether ``text`` only asks (no clause requests an action)."""
    return requested_action(text) is None and any(
        _request(clause) is None for clause in clauses(text)
    )


def question_of(text: str) -> str | None:
    """Which question ``text`` asks, by its words (None: none recognised)."""
    for name, pattern in QUESTIONS:
        if pattern.search(text):
            return name
    return None


def subject_of(text: str) -> str | None:
    """Who or what a question is about ("the Designer", a task), as the user wrote it."""
    match = _SUBJECT.search(text)
    if not match:
        return None
    subject = clean(match.group("did") or match.group("owner") or match.group("task"))
    if not subject or subject.lower() in _PRONOUNS:
        return None
    return subject


def is_greeting(text: str) -> bool:
    return bool(_GREETING.match(text))
