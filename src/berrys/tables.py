"""Every service's tables, imported once so that Alembic and tests see the whole schema."""

from __future__ import annotations

from berrys.core.db import Base
from berrys.services.agents import tables as agent_tables
from berrys.services.alerts import tables as alert_tables
from berrys.services.audit import tables as audit_tables
from berrys.services.auth import tables as auth_tables
from berrys.services.catalogue import tables as catalogue_tables
from berrys.services.chat import tables as chat_tables
from berrys.services.interactions import tables as interaction_tables
from berrys.services.llm import tables as llm_tables
from berrys.services.planning import tables as planning_tables
from berrys.services.projects import tables as project_tables
from berrys.services.publishing import tables as publishing_tables
from berrys.services.runs import tables as run_tables
from berrys.services.tools import tables as tool_tables
from berrys.services.triggers import tables as trigger_tables

metadata = Base.metadata
__all__ = [
    "agent_tables",
    "alert_tables",
    "audit_tables",
    "auth_tables",
    "catalogue_tables",
    "chat_tables",
    "interaction_tables",
    "llm_tables",
    "metadata",
    "planning_tables",
    "project_tables",
    "publishing_tables",
    "run_tables",
    "tool_tables",
    "trigger_tables",
]
