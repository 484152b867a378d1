"""Slack's own method descriptions (arguments, errors, tiers), read in place to keep the emulator honest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from bot.emulator.arguments import SlackApiFailure, is_missing

__all__ = ["DEFAULT_REFERENCE_DIR", "MethodSpec", "SlackReference"]

DEFAULT_REFERENCE_DIR: Final = Path(__file__).resolve().parents[2].parent / "shared" / "slack-api-ref"

# Which error code answers a missing required argument, in order of preference (first one the method lists).
_MISSING_ARG_ERRORS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "channel": ("channel_not_found", "invalid_channel"),
        "channel_id": ("channel_not_found", "invalid_channel"),
        "user": ("user_not_found",),
        "user_id": ("user_not_found",),
        "ts": ("message_not_found",),
        "message_ts": ("message_not_found",),
        "email": ("users_not_found",),
        "usergroup": ("no_such_subteam",),
        "filename": ("missing_argument",),
        "length": ("missing_argument",),
        "files": ("missing_argument",),
    }
)


@dataclass(frozen=True)
class MethodSpec:
    """What the Slack reference says about one Web API method."""

    name: str
    required: tuple[str, ...]
    properties: Mapping[str, Any]
    errors: frozenset[str]
    tier: str | None
    http_method: str
    json_input_supported: bool
    examples: Mapping[str, Any]

    def error_for_missing(self, arg: str) -> str:
        for candidate in _MISSING_ARG_ERRORS.get(arg, ()):
            if candidate in self.errors:
                return candidate
        return "invalid_arguments"


@dataclass(frozen=True)
class SlackReference:
    """Slack's machine-readable method and event descriptions, read in place (never copied)."""

    root: Path
    methods: Mapping[str, MethodSpec]
    events: Mapping[str, Mapping[str, Any]]

    @classmethod
    def load(cls, root: Path) -> SlackReference:
        methods: dict[str, MethodSpec] = {}
        for path in sorted((root / "methods").glob("*.json")):
            raw = json.loads(path.read_text(encoding="utf-8"))
            args = raw.get("args") or {}
            methods[path.stem] = MethodSpec(
                name=path.stem,
                required=tuple(args.get("required") or ()),
                properties=MappingProxyType(dict(args.get("properties") or {})),
                errors=frozenset((raw.get("errors") or {}).keys()),
                tier=raw.get("rate_limits"),
                http_method=str(raw.get("http_method", "POST")),
                json_input_supported=bool(raw.get("json_input_supported", False)),
                examples=MappingProxyType(dict(raw.get("examples") or {})),
            )
        events: dict[str, Mapping[str, Any]] = {}
        for path in sorted((root / "events").glob("*.json")):
            events[path.stem] = MappingProxyType(json.loads(path.read_text(encoding="utf-8")))
        if not methods:
            raise FileNotFoundError(f"no method descriptions under {root / 'methods'}")
        return cls(root=root, methods=MappingProxyType(methods), events=MappingProxyType(events))

    def tier_of(self, method: str) -> str | None:
        """Rate-limit tier of ``method`` (``"t1"``..``"t5"``), or None when the reference does not say."""
        spec = self.methods.get(method)
        return spec.tier if spec is not None else None

    def check_required(self, method: str, args: Mapping[str, Any]) -> None:
        """Refuse a call that lacks an argument the method requires, with the error the method lists."""
        spec = self.methods.get(method)
        if spec is None:
            return
        for name in spec.required:
            if name != "token" and is_missing(args.get(name)):
                raise SlackApiFailure(spec.error_for_missing(name), f"[ERROR] missing required field: {name}")
