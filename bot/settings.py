"""Baton's settings, from the environment and `.env`; a bad value stops start-up with one clear line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as UnreadableSetting

from bot.engine.integrations import is_batons_secret

__all__ = ["ApiTokenScope", "Settings", "SettingsError", "load_settings"]

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
LEGACY_TOKEN_NAME = "API_TOKEN"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


class ApiTokenScope(BaseModel):
    """What one token of the API may do: which workflows it starts, whether it asks one-off approvals, as whom.

    `workflows` lists workflow names (`"*"`: every workflow). A token starts requests as its `requester`;
    only with `name_requesters` may a request name another requester (any person in org.yaml). Either way the
    requester must be allowed to start the workflow by its `start.allowed`; admin rights never count.
    `approvals` lets it ask one-off questions (`POST /api/approvals`). `callback_secret_env` names the
    environment variable whose value signs the callbacks of the requests it starts (no callbacks without it).
    A token reads back (`GET /api/requests/<id>`) the requests it started and those of its workflows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    workflows: tuple[str, ...] = ()
    requester: str | None = None
    name_requesters: bool = False
    approvals: bool = False
    callback_secret_env: Annotated[str | None, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")] = None

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16 or any(c.isspace() for c in value.get_secret_value()):
            raise ValueError("a token is at least 16 characters without spaces (openssl rand -hex 32)")
        return value

    @field_validator("callback_secret_env")
    @classmethod
    def _not_batons_own(cls, value: str | None) -> str | None:
        if value is not None and is_batons_secret(value):
            raise ValueError(f"{value} is one of Baton's own secrets; sign callbacks with a secret of their own")
        return value

    @field_validator("requester")
    @classmethod
    def _user_id(cls, value: str | None) -> str | None:
        if value is not None and not _USER_ID.fullmatch(value):
            raise ValueError(f"{value[:30]!r} is not a Slack user ID (U…)")
        return value

    @model_validator(mode="after")
    def _starts_as_someone(self) -> Self:
        if not self.workflows and not self.approvals:
            raise ValueError('name the workflows the token may start ("*" for all), or give it approvals: true')
        if self.requester is None and not self.name_requesters:
            raise ValueError("give the token a requester, or name_requesters: true")
        return self

    def may_start(self, workflow: str) -> bool:
        return "*" in self.workflows or workflow in self.workflows


def slowest_slack_call(timeout: float) -> float:
    """The longest one Web API call can take: slack_sdk retries once on a dropped connection, plus a second."""
    return 2 * timeout + 1


class Settings(BaseSettings):
    """Everything Baton reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///data/baton.db"
    workflows_dir: Path = Path("workflows")
    org_cache: str = "auto"  # auto: beside a SQLite database, none on PostgreSQL; off; or the file's path
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    baton_admins: Annotated[tuple[str, ...], NoDecode] = ()
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (one JSON object per line, with workflow/instance/step ids)
    api_token: SecretStr | None = None  # one start API token for every workflow, naming any requester
    api_tokens: dict[str, ApiTokenScope] = {}  # named, scoped start API tokens (JSON); see ApiTokenScope
    metrics_token: SecretStr | None = None  # when set, /metrics and the detail of /healthz need it as a bearer token
    webhook_allow_private_addresses: bool = False  # let webhooks reach loopback, private and link-local addresses
    scheduler_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    http_read_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0  # a request body slower than this: 408
    http_idle_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 15.0  # headers not sent / idle keep-alive
    http_max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 512 * 1024  # a bigger body: 413
    slack_tier_pacing: bool = True  # keep each Web API method within its Slack rate-limit tier
    slack_retry_max_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0  # cap of the backoff between retries
    slack_api_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0  # a Slack call slower than this is retried
    auto_migrate: bool | None = None  # None: yes for SQLite (one process), no for PostgreSQL (run `migrate`)
    outbox_lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    database_pool_size: Annotated[int, Field(ge=1, le=100)] = 10
    stop_notice_seconds: Annotated[float, Field(ge=0, le=60)] = 0.0  # on SIGTERM: /readyz 503, still serving, first
    retention_days: Annotated[int | None, Field(ge=1, le=36500)] = None  # purge requests finished longer ago
    retention_sweep_seconds: Annotated[float, Field(gt=0, le=86400)] = 3600.0  # how often the purge runs

    @field_validator("slack_api_url")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user@host:5432/database")
        return value

    @field_validator("baton_admins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.replace(" ", ",").split(",") if part.strip())
        return value

    @field_validator("baton_admins")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for user_id in value:
            if user_id[:1] not in ("U", "W") or not user_id.isalnum():
                raise ValueError(f"{user_id!r} is not a Slack user ID (U…)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("use text or json")
        return value.lower()

    @field_validator("api_tokens")
    @classmethod
    def _distinct_tokens(cls, value: dict[str, ApiTokenScope]) -> dict[str, ApiTokenScope]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
                raise ValueError(f"{name[:40]!r} is not a token name (letters, digits, . _ -)")
        tokens = [scope.token.get_secret_value() for scope in value.values()]
        if len(set(tokens)) != len(tokens):
            raise ValueError("two tokens are the same; give each system its own")
        return value

    @model_validator(mode="after")
    def _lease_outlives_a_call(self) -> Settings:
        """On PostgreSQL a claimed message must be sent and recorded before its lease runs out, or another
        process could take it over and send it again while the first is still waiting for Slack."""
        if self.outbox_lease_seconds < 2 * slowest_slack_call(self.slack_api_timeout_seconds):
            floor = 2 * slowest_slack_call(self.slack_api_timeout_seconds)
            raise ValueError(
                f"OUTBOX_LEASE_SECONDS ({self.outbox_lease_seconds:g}) must be at least {floor:g}: twice the "
                f"slowest Slack call with SLACK_API_TIMEOUT_SECONDS={self.slack_api_timeout_seconds:g} "
                "(the call, its one retry on a dropped connection, and a second to spare)"
            )
        return self

    @property
    def api_scopes(self) -> dict[str, ApiTokenScope]:
        """Every start API token by name: API_TOKENS, and API_TOKEN as one for all workflows, naming requesters."""
        scopes = dict(self.api_tokens)
        if self.api_token is not None:
            scopes[LEGACY_TOKEN_NAME] = ApiTokenScope(
                token=self.api_token, workflows=("*",), name_requesters=True, approvals=True
            )
        return scopes

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret setting's value, for the log redactor."""
        values = (
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.api_token,
            self.metrics_token,
        )
        scoped = tuple(scope.token for scope in self.api_tokens.values())
        return tuple(value.get_secret_value() for value in (*values, *scoped) if value is not None)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def org_cache_path(self) -> Path | None:
        """Where the compiled copy of org.yaml is kept (bot/org_cache.py), if anywhere."""
        if self.org_cache.lower() == "off":
            return None
        if self.org_cache.lower() != "auto":
            return Path(self.org_cache)
        if not self.database_url.startswith("sqlite:///"):
            return None  # no local directory of Baton's own to keep it in; ORG_CACHE names one
        database = self.sqlite_path
        return database.with_name(f"{database.stem}.org-cache.json")

    @property
    def has_slack_credentials(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    def missing_for_http(self) -> list[str]:
        """Names of the settings HTTP mode still needs."""
        return [
            name
            for name, value in (
                ("SLACK_BOT_TOKEN", self.slack_bot_token),
                ("SLACK_SIGNING_SECRET", self.slack_signing_secret),
            )
            if value is None
        ]


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError naming each bad setting in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except UnreadableSetting as error:  # e.g. API_TOKENS that is not JSON
        field = re.search(r'field "(\w+)"', str(error))
        name = field.group(1).upper() if field else "settings"
        raise SettingsError(f"bad setting: {name}: not valid JSON") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{str(e['loc'][0]).upper() if e['loc'] else 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise SettingsError(f"bad setting: {problems}") from None
