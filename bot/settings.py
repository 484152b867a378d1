"""Baton's settings, from the environment and `.env`; a bad value stops start-up with one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseSettings):
    """Everything Baton reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///data/baton.db"
    workflows_dir: Path = Path("workflows")
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    baton_admins: Annotated[tuple[str, ...], NoDecode] = ()
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (one JSON object per line, with workflow/instance/step ids)
    api_token: SecretStr | None = None  # bearer token of the integration API; without it the API answers 404
    scheduler_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    slack_tier_pacing: bool = True  # keep each Web API method within its Slack rate-limit tier
    slack_retry_max_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0  # cap of the backoff between retries
    slack_api_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0  # a Slack call slower than this is retried
    auto_migrate: bool | None = None  # None: yes for SQLite (one process), no for PostgreSQL (run `migrate`)
    outbox_lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    database_pool_size: Annotated[int, Field(ge=1, le=100)] = 10

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

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret setting's value, for the log redactor."""
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.api_token)
        return tuple(value.get_secret_value() for value in values if value is not None)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

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
    except ValidationError as error:
        problems = "; ".join(
            f"{str(e['loc'][0]).upper() if e['loc'] else 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise SettingsError(f"bad setting: {problems}") from None
