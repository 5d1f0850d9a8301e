"""REST routes of agents: a project's team, one agent's lifecycle and messages, templates,
specialisations."""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from berrys.core.contracts import MAX_INT, ListOf
from berrys.core.deps import DatabaseDep, PageDep, Session
from berrys.core.errors import Unprocessable
from berrys.services.agents import _generation, _messages, _specialisations, _templates, service
from berrys.services.agents.contracts import (
    AgentCreate,
    AgentOut,
    AgentState,
    AgentStateOut,
    AgentTransitionRequest,
    AgentUpdate,
    CollaborationOut,
    GenerateRequest,
    GenerationOut,
    MessageCreate,
    MessageOut,
    MessageStatus,
    MessageStatusUpdate,
    SpecialisationOut,
    SpecialisationUpdate,
    TemplateComparison,
    TemplateCreate,
    TemplateDocument,
    TemplateOut,
    TemplateRevert,
    TemplateUpdate,
    TemplateVersionCreate,
    TemplateVersionOut,
)
from berrys.services.auth.deps import CurrentUser, WriterUser
from berrys.services.catalogue.contracts import AgentType
from berrys.services.llm.deps import ModelsDep
from berrys.services.projects.deps import VisibleProject, WritableProject

MAX_TEMPLATE_UPLOAD = 512 * 1024
NO_NUL = r"^[^\x00]*$"


async def _seeded(database: DatabaseDep, user: CurrentUser) -> None:
    """Specialisations and system templates exist before a route reads or uses them (after
    authentication: an anonymous request writes nothing)."""
    await _specialisations.ensure_seeded(database)


Seeded = Depends(_seeded)

projects_router = APIRouter(prefix="/api/v1/projects/{project_id}/agents", tags=["agents"])
agents_router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
specialisations_router = APIRouter(
    prefix="/api/v1/agent-specialisations", tags=["agent specialisations"]
)
templates_router = APIRouter(prefix="/api/v1/agent-templates", tags=["agent templates"])


# --- a project's agents -----------------------------------------------------------------------


@projects_router.post(
    "/generate",
    response_model=GenerationOut,
    responses={
        200: {"description": "A preview (dry_run): nothing saved"},
        201: {"description": "The team, saved", "model": GenerationOut},
    },
)
async def generate_team(
    project: WritableProject,
    body: GenerateRequest,
    models: ModelsDep,
    database: DatabaseDep,
    user: WriterUser,
    response: Response,
) -> GenerationOut:
    """Description -> requirements -> team -> collaboration graph; persisted (201) unless
    ``dry_run`` (200)."""
    result = await _generation.generate(
        models, database, project_id=project.id, request=body, user=user
    )
    response.status_code = status.HTTP_200_OK if body.dry_run else status.HTTP_201_CREATED
    return result


@projects_router.get("", response_model=ListOf[AgentOut])
async def list_agents(
    project: VisibleProject,
    session: Session,
    user: CurrentUser,
    page: PageDep,
    agent_type: Annotated[AgentType | None, Query()] = None,
    state: Annotated[AgentState | None, Query()] = None,
) -> ListOf[AgentOut]:
    items, total = await service.get_all(
        session,
        project_id=project.id,
        user=user,
        limit=page.limit,
        offset=page.offset,
        agent_type=agent_type,
        state=state,
    )
    return ListOf[AgentOut](items=items, total=total)


@projects_router.post(
    "", response_model=AgentOut, status_code=status.HTTP_201_CREATED, dependencies=[Seeded]
)
async def create_agent(
    project: WritableProject,
    body: AgentCreate,
    models: ModelsDep,
    session: Session,
    user: WriterUser,
) -> AgentOut:
    """Create one agent, by hand or from a template version with dotted-key overrides."""
    return await service.create(models, session, project_id=project.id, agent_in=body, user=user)


@projects_router.get("/collaboration", response_model=list[CollaborationOut])
async def collaboration_graph(
    project: VisibleProject, session: Session, user: CurrentUser
) -> list[CollaborationOut]:
    """Who hands work to whom, and how."""
    return await service.get_collaboration(session, project_id=project.id, user=user)


# --- one agent --------------------------------------------------------------------------------


@agents_router.get("/{agent_id}", response_model=AgentOut)
async def get_agent(agent_id: uuid.UUID, session: Session, user: CurrentUser) -> AgentOut:
    return await service.get(session, agent_id=agent_id, user=user)


@agents_router.patch("/{agent_id}", response_model=AgentOut)
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, models: ModelsDep, session: Session, user: WriterUser
) -> AgentOut:
    return await service.update(models, session, agent_id=agent_id, agent_in=body, user=user)


@agents_router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(
    agent_id: uuid.UUID, models: ModelsDep, session: Session, user: WriterUser
) -> None:
    await service.delete(models, session, agent_id=agent_id, user=user)


@agents_router.post("/{agent_id}/transitions", response_model=AgentOut)
async def transition_agent(
    agent_id: uuid.UUID, body: AgentTransitionRequest, session: Session, user: WriterUser
) -> AgentOut:
    """Move the agent to ``to_state``; an illegal move is 409 naming the allowed states."""
    return await service.transition(
        session, agent_id=agent_id, to_state=body.to_state, user=user, reason=body.reason
    )


@agents_router.get("/{agent_id}/history", response_model=ListOf[AgentStateOut])
async def agent_history(
    agent_id: uuid.UUID, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[AgentStateOut]:
    items, total = await service.get_history(
        session, agent_id=agent_id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[AgentStateOut](items=items, total=total)


@agents_router.get("/{agent_id}/system-prompt")
async def agent_system_prompt(
    agent_id: uuid.UUID, session: Session, user: CurrentUser
) -> dict[str, str]:
    """The agent's prompt template rendered (sandboxed) and composed with its specialisation."""
    prompt = await service.system_prompt(session, agent_id=agent_id, user=user)
    return {"agent_id": str(agent_id), "system_prompt": prompt}


@agents_router.post(
    "/{agent_id}/messages", response_model=MessageOut, status_code=status.HTTP_201_CREATED
)
async def send_message(
    agent_id: uuid.UUID, body: MessageCreate, session: Session, user: WriterUser
) -> MessageOut:
    return await _messages.send(session, agent_id=agent_id, message_in=body, user=user)


@agents_router.get("/{agent_id}/messages", response_model=ListOf[MessageOut])
async def list_messages(
    agent_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    page: PageDep,
    status: Annotated[MessageStatus | None, Query()] = None,
    direction: Annotated[Literal["inbox", "outbox", "all"], Query()] = "inbox",
) -> ListOf[MessageOut]:
    items, total = await _messages.get_all(
        session,
        agent_id=agent_id,
        user=user,
        limit=page.limit,
        offset=page.offset,
        status=status,
        direction=direction,
    )
    return ListOf[MessageOut](items=items, total=total)


@agents_router.patch("/{agent_id}/messages/{message_id}", response_model=MessageOut)
async def update_message(
    agent_id: uuid.UUID,
    message_id: uuid.UUID,
    body: MessageStatusUpdate,
    session: Session,
    user: WriterUser,
) -> MessageOut:
    """Delivery status: CREATED -> DELIVERED -> PROCESSED, or FAILED; illegal -> 409."""
    return await _messages.update(
        session, agent_id=agent_id, message_id=message_id, status_in=body, user=user
    )


# --- specialisations --------------------------------------------------------------------------


@specialisations_router.get("", response_model=list[SpecialisationOut], dependencies=[Seeded])
async def list_specialisations(session: Session, user: CurrentUser) -> list[SpecialisationOut]:
    return await _specialisations.get_specialisations(session)


@specialisations_router.get(
    "/{agent_type}", response_model=SpecialisationOut, dependencies=[Seeded]
)
async def get_specialisation(
    agent_type: AgentType, session: Session, user: CurrentUser
) -> SpecialisationOut:
    return await _specialisations.get_specialisation(session, agent_type=agent_type)


@specialisations_router.patch("/{agent_type}", response_model=SpecialisationOut)
async def update_specialisation(
    agent_type: AgentType, body: SpecialisationUpdate, session: Session, user: WriterUser
) -> SpecialisationOut:
    """Edit what every agent of a type knows (ADMIN only)."""
    return await _specialisations.update_specialisation(
        session, agent_type=agent_type, specialisation_in=body, user=user
    )


# --- templates --------------------------------------------------------------------------------


@templates_router.get("", response_model=ListOf[TemplateOut], dependencies=[Seeded])
async def list_templates(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    tag: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    agent_type: Annotated[AgentType | None, Query()] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Text in the name.")
    ] = None,
) -> ListOf[TemplateOut]:
    items, total = await _templates.get_all(
        session,
        user=user,
        limit=page.limit,
        offset=page.offset,
        tag=tag,
        agent_type=agent_type,
        q=q,
    )
    return ListOf[TemplateOut](items=items, total=total)


@templates_router.post("", response_model=TemplateOut, status_code=status.HTTP_201_CREATED)
async def create_template(body: TemplateCreate, session: Session, user: WriterUser) -> TemplateOut:
    return await _templates.create(session, template_in=body, user=user)


@templates_router.post(
    "/import",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Seeded],
)
async def import_template(
    session: Session,
    user: WriterUser,
    file: Annotated[UploadFile, File(description="A template exported as JSON.")],
    name: Annotated[
        str | None, Form(max_length=200, pattern=NO_NUL, description="Import under this name.")
    ] = None,
) -> TemplateOut:
    """Create a template from an uploaded JSON document (as written by export)."""
    raw = await file.read(MAX_TEMPLATE_UPLOAD + 1)
    if len(raw) > MAX_TEMPLATE_UPLOAD:
        raise Unprocessable(f"The template file is larger than {MAX_TEMPLATE_UPLOAD} bytes")
    try:
        document = TemplateDocument.model_validate(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unprocessable(f"The uploaded file is not JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'document'}: {error['msg']}"
            for error in exc.errors()
        )
        raise Unprocessable(
            f"The uploaded file is not a Berrys agent template: {problems}"
        ) from None
    name = name.strip() if name and name.strip() else None
    return await _templates.import_document(session, document=document, user=user, name=name)


@templates_router.get("/{template_id}", response_model=TemplateOut, dependencies=[Seeded])
async def get_template(template_id: uuid.UUID, session: Session, user: CurrentUser) -> TemplateOut:
    return await _templates.get(session, template_id=template_id, user=user)


@templates_router.patch("/{template_id}", response_model=TemplateOut, dependencies=[Seeded])
async def update_template(
    template_id: uuid.UUID, body: TemplateUpdate, session: Session, user: WriterUser
) -> TemplateOut:
    """Name, description and tags; content changes through new versions."""
    return await _templates.update(session, template_id=template_id, template_in=body, user=user)


@templates_router.delete(
    "/{template_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Seeded]
)
async def delete_template(template_id: uuid.UUID, session: Session, user: WriterUser) -> None:
    await _templates.delete(session, template_id=template_id, user=user)


@templates_router.get(
    "/{template_id}/versions", response_model=ListOf[TemplateVersionOut], dependencies=[Seeded]
)
async def list_template_versions(
    template_id: uuid.UUID, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[TemplateVersionOut]:
    items, total = await _templates.get_versions(
        session, template_id=template_id, user=user, limit=page.limit, offset=page.offset
    )
    return ListOf[TemplateVersionOut](items=items, total=total)


@templates_router.post(
    "/{template_id}/versions",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Seeded],
)
async def add_template_version(
    template_id: uuid.UUID, body: TemplateVersionCreate, session: Session, user: WriterUser
) -> TemplateOut:
    """A new immutable version (a whole definition or dotted-key overrides); it becomes current."""
    return await _templates.add_version(
        session, template_id=template_id, version_in=body, user=user
    )


@templates_router.get(
    "/{template_id}/versions/{version}", response_model=TemplateVersionOut, dependencies=[Seeded]
)
async def get_template_version(
    template_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=MAX_INT)],
    session: Session,
    user: CurrentUser,
) -> TemplateVersionOut:
    return await _templates.get_version(
        session, template_id=template_id, version=version, user=user
    )


@templates_router.get(
    "/{template_id}/compare", response_model=TemplateComparison, dependencies=[Seeded]
)
async def compare_template_versions(
    template_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    from_version: Annotated[int, Query(ge=1, le=MAX_INT)],
    to_version: Annotated[int, Query(ge=1, le=MAX_INT)],
) -> TemplateComparison:
    """A field-level diff between two versions."""
    return await _templates.compare(
        session,
        template_id=template_id,
        from_version=from_version,
        to_version=to_version,
        user=user,
    )


@templates_router.post("/{template_id}/revert", response_model=TemplateOut, dependencies=[Seeded])
async def revert_template(
    template_id: uuid.UUID, body: TemplateRevert, session: Session, user: WriterUser
) -> TemplateOut:
    """Make an old version current again, recorded as a new version."""
    return await _templates.revert(session, template_id=template_id, revert_in=body, user=user)


@templates_router.get("/{template_id}/export", dependencies=[Seeded])
async def export_template(
    template_id: uuid.UUID, session: Session, user: CurrentUser
) -> JSONResponse:
    """The template and all its versions as a downloadable JSON document."""
    document = await _templates.export(session, template_id=template_id, user=user)
    filename = re.sub(r"[^A-Za-z0-9._-]+", "-", document.name).strip("-") or "template"
    return JSONResponse(
        document.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="{filename}.json"'},
    )


router = APIRouter()
for _router in (projects_router, agents_router, specialisations_router, templates_router):
    router.include_router(_router)
