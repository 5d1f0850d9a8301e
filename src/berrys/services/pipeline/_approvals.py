"""Tool calls that need a person's approval, inside a run and outside one.

Inside a run the executor asks first (the task waits, AWAITING_INPUT) and marks the call
approved while it makes it (``tool_call_approved``). Outside a run (a person invoking a
tool) the first call creates an APPROVAL and is refused with its id; once approved, the same
call (same arguments) runs once.
"""

from __future__ import annotations

from contextvars import ContextVar

from berrys.core.db import Database
from berrys.core.enums import Priority
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import ApprovalSubject, HumanInteractionType
from berrys.services.tools import service as tools

# Set while the executor makes a tool call a person has approved (the tools service's
# approval hook lets such a call through).
tool_call_approved: ContextVar[bool] = ContextVar("berrys_tool_call_approved", default=False)


def tool_call_approval(database: Database) -> tools.ApprovalHook:
    """The approval policy of tool calls by human-in-the-loop (see above), which the
    application's tool invoker holds."""

    async def hook(request: tools.ApprovalRequest) -> None:
        if tool_call_approved.get():
            return
        if request.project_id is None:
            await tools.require_human_approval(request)
            return
        async with database.transaction() as session:
            state, interaction_id = await interactions.take_tool_approval(
                session,
                project_id=request.project_id,
                tool_id=request.tool_id,
                arguments_hash=request.arguments_hash,
            )
            if state == "approved":
                return
            if state == "none":
                created = await interactions.create(
                    session,
                    type=HumanInteractionType.APPROVAL,
                    project_id=request.project_id,
                    title=f"Allow tool {request.tool_name!r} to run?",
                    prompt=str(request.arguments)[:4000],
                    priority=Priority.HIGH,
                    details={
                        "subject": ApprovalSubject.TOOL_CALL,
                        "tool_id": str(request.tool_id),
                        "tool": request.tool_name,
                        "arguments": request.arguments,
                        "arguments_hash": request.arguments_hash,
                    },
                    actor_id=request.user_id,
                )
                interaction_id = created.id
        raise tools.ApprovalRequired(
            f"Tool {request.tool_name!r} requires approval: answer interaction "
            f"{interaction_id} and call it again",
            interaction_id=str(interaction_id),
            tool=request.tool_name,
        )

    return hook
