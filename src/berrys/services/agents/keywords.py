"""The words the rules listen for: which agent types, specialist domains and requirement
categories a sentence calls for, and how strongly its modal verbs ask."""

from __future__ import annotations

import re

from berrys.core.enums import AgentType, RequirementCategory

T = AgentType
C = RequirementCategory


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")", re.IGNORECASE)


def _words(patterns: str, *more: str) -> re.Pattern[str]:
    """A pattern from whitespace-separated alternatives (a space inside one is written \\s)."""
    return _rx(*patterns.split(), *more)


# "write" as prose: not "written in Python", not "write a scraper" or "write tests".
_WRITE = (
    r"writ(?:e|es|ing|ten)\b(?!\s+in\b|\s+(?:(?:a|an|the|some)\s+)?(?:\w+\s+)?"
    r"(?:scrapers?|scripts?|programs?|functions?|services?|bots?|parsers?|crawlers?|tools?|"
    r"tests?|code)\b)"
)


TYPE_KEYWORDS: dict[AgentType, re.Pattern[str]] = {
    T.DEVELOPER: _words(
        r"""
            implement develop(?:s|ed|ing)?\b development\b(?!\s+team) cod(?:e|ing)\b
            program(?:ming)?\b software apps?\b applications?\b web\s?sites?\b web\s?app back-?end
            front-?end apis?\b endpoints?\b databases?\b (?:data\s)?pipelines?\b etl\b ingest deploy
            ci\b integrat webhooks?\b automat docker containeri[sz] kubernetes terraform ios\b
            android\b browser sync\b offline\b checkout cart\b online\s+(?:shop|store) storefront
            e-?commerce single\s+sign-on sso\b internal\s+tools?\b dashboards?\b games?\b mkdocs
            sphinx docstrings? static\s+site search\b plugins?\b scripting bots?\b chat-?bots?\b
            scrapers?\b crawlers?\b extensions?\b
        """
    ),
    T.DESIGNER: _words(
        r"""
            design(?:s|ed|er|ing)?\b(?!\s+(?:doc|document)s?\b) ui\b ux\b user\s+interface
            interfaces?\b user\s+experience layouts?\b visuals?\b graphics?\b mock-?ups?\b
            wireframes?\b logos?\b brand(?:ing)?\b style\s+guide look\s+and\s+feel pixel[-\s]art
            illustrat animation typograph colou?r\s+palette icons?\b cover\s+art artwork personas?\b
            journey\s+maps? prototyp videos?\b badges?\b signage posters?\b flyers?\b
        """
    ),
    T.RESEARCHER: _words(
        r"""
            research investigat literature evidence\b surveys?\b studies\b study\b interview
            market\s+analys competitors?\b competitive\s+analys state\s+of\s+the\s+art academic
            citations?\b fact-?check sources\b target\s+audience
        """
    ),
    T.ASSISTANT: _words(
        r"""
            documentation docs\b (?<!style\s)guides?\b tutorials?\b manuals?\b copy(?:writing)?\b
            content\b blog articles?\b newsletters?\b show\s+notes release\s+notes leaflets?\b
            brochures?\b recommendations?\b captions?\b summar(?:y|ies|ise|ize) translat faqs?\b
            proofread meeting\s+notes api\s+reference executive\s+summary
        """,
        _WRITE,
    ),
    T.AUDITOR: _words(
        r"""
            (?:checked|reviewed|approved|verified)\s+by verif reveal confidential sensitive leak
            accura correctness review(?:ed)?\s+for traceab iso\s?\d{4,5} hallucinat quality qa\b
            tests?\b testing playtest bugs?\b audit complian comply gdpr hipaa pci\b soc\s?2
            iso\s?27001 wcag secur protect vulnerab penetration least\s+privilege encrypt
            api\s+keys? secrets?\b credentials code\s+review logged\b validat
        """
    ),
}

# A specialist is named after the domain that calls for one.
SPECIALIST_DOMAINS: dict[str, re.Pattern[str]] = {
    "Marketing": _words(
        r"""
            marketing campaigns?\b seo\b social\s+media advertis \bads\b influencer conversions?\b
            instagram tiktok
        """
    ),
    "Machine Learning": _words(
        r"""
            machine\s+learning ml\b train(?:ed|ing)?\s+(?:a\s+|the\s+)?(?:\w+\s+)?models? retrain
            predict churn classif neural deep\s+learning data\s+scien feature\s+engineering
            engineer\s+features forecast
        """
    ),
    "Cloud Infrastructure": _words(
        r"""
            aws\b azure gcp\b google\s+cloud cloud\b on-?premise infrastructure devops
            data\s?cent(?:er|re) kubernetes terraform downtime
        """
    ),
    "Legal and Compliance": _words(
        r"""
            gdpr hipaa ccpa legal lawyers?\b laws?\b data\s+protection\s+(?:law|regulation)
        """
    ),
    "Audio": _words(
        r"""
            music soundtrack sound\s+effects audio chiptune voice-?over
        """
    ),
    "Finance": _words(
        r"""
            accounting bookkeeping tax(?:es)?\b financial\s+(?:model|analys|statement|planning)
        """
    ),
    "Healthcare": _words(
        r"""
            clinical medical patients?\b healthcare
        """
    ),
}

CATEGORY_KEYWORDS: dict[RequirementCategory, re.Pattern[str]] = {
    C.NON_FUNCTIONAL: _words(
        r"""
            performan fast\b latency downtime scal reliab recover availab uptime secur protect
            least\s+privilege expose accessib responsive offline explainab quality monitor privacy
            encrypt logged\b complian usab
        """
    ),
    C.INTEGRATION: _words(
        r"""
            integrat sync webhooks? connect existing\s+(?:\w+\s+)?(?:system|api|service|tool|crm)
            third-?party import export stripe mailchimp salesforce kafka single\s+sign-on
            google\s+workspace
        """
    ),
    C.DOMAIN_SPECIFIC: _words(
        r"""
            gdpr hipaa pci\b regulat legal marketing campaign churn clinical medical finance
            accounting tax\b refunds?\b music chiptune recycling levels?\b personal\s+data
        """
    ),
    C.TECHNICAL: _words(
        r"""
            kubernetes docker containeri[sz] terraform aws\b python mkdocs ci\b rest\b databases?
            warehouse snowflake sql\b ios\b android\b endpoint docstrings? deploy features\b
        """
    ),
    C.COLLABORATION: _words(
        r"""
            coordinat collaborat hand\s?-?off stakeholders? report\s+weekly weekly\s+report
            interview\s+the\s+teams? the\s+board\b sign-?off approv
        """
    ),
}
# On a tie the earlier category wins: the more specific reading first.
CATEGORY_ORDER = (
    C.NON_FUNCTIONAL,
    C.INTEGRATION,
    C.DOMAIN_SPECIFIC,
    C.TECHNICAL,
    C.COLLABORATION,
    C.FUNCTIONAL,
)

STRONG = _words(
    r"""
            must\b shall\b required\b requires?\b needs?\s+to\b has\s+to\b have\s+to\b only\b
            never\b every\b
    """
)
CRITICAL = _words(
    r"""
            critical essential mandatory at\s+all\s+costs without\s+fail
    """
)
MEDIUM = _words(
    r"""
            should\b needs?\b want would\s+like expect
    """
)
WEAK = _words(
    r"""
            could\b may\b might\b nice\s+to\s+have ideally optional if\s+possible bonus
    """
)
IMPERATIVE = re.compile(
    r"^(?:please\s+)?(?:build|create|make|develop|design|write|prepare|plan|run|train|migrate|"
    r"audit|set\s+up|integrate|produce|deliver|compose|implement|launch|research|translate|"
    r"analy[sz]e|review|set|add|ship|publish|deploy|survey|organi[sz]e|run)\b",
    re.IGNORECASE,
)
SENSITIVE = _words(r"secur complian gdpr hipaa pci\b protect privacy encrypt")

BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+|;\s+")
ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|incl)\.\s+", re.IGNORECASE)
