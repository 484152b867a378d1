"""manifest.yml against Slack's rules for an app with custom steps (Workflow Builder), as Slack's docs give them.

Sources: docs.slack.dev "Custom steps" for Bolt (functions keyed by callback_id, `title` required, `description`,
`input_parameters` / `output_parameters` as `properties` + `required`), the org-ready requirement
(`settings.org_deploy_enabled: true`, installed at the org level), `function_runtime: remote` for steps a Bolt app
runs, the function_executed event page (delivered through the Events API), the Slack types reference (the
`slack#/types/...` names deno-slack-sdk lists as SlackPrimitiveTypes) and the primitive schema types."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from bot.step_outputs import REQUEST_APPROVAL, START_WORKFLOW

from .conftest import PROJECT

PRIMITIVE_TYPES = {"string", "boolean", "integer", "number", "object", "array"}
SLACK_TYPES = {
    f"slack#/types/{name}"
    for name in (
        "blocks", "canvas_id", "canvas_template_id", "channel_id", "date", "expanded_rich_text", "file_id", "list_id",
        "message_ts", "rich_text", "team_id", "timestamp", "user_id", "usergroup_id",
    )
} | {"slack#/types/credential/oauth2"}
CALLBACK_ID = re.compile(r"^[a-z][a-z0-9_]{0,99}$")  # Slack says "any string"; Baton keeps to its samples' snake_case


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((PROJECT / "manifest.yml").read_text()))


def parameter_problems(where: str, parameters: Any) -> list[str]:
    """What Slack would refuse in one input_parameters / output_parameters object."""
    if not isinstance(parameters, dict) or not isinstance(parameters.get("properties"), dict):
        return [f"{where}: needs `properties`"]
    problems = []
    properties = parameters["properties"]
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in PRIMITIVE_TYPES | SLACK_TYPES:
            problems.append(f"{where}.{name}: type {kind!r} is not a Slack type")
        if kind == "array" and (spec.get("items") or {}).get("type") not in PRIMITIVE_TYPES | SLACK_TYPES:
            problems.append(f"{where}.{name}: an array needs `items` of a Slack type")
        extra = set(spec) - {"type", "title", "description", "items", "hint", "default", "examples"}
        if extra:
            problems.append(f"{where}.{name}: unknown keys {sorted(extra)}")
    unknown = [name for name in parameters.get("required") or () if name not in properties]
    if unknown:
        problems.append(f"{where}: required names parameters it does not have: {unknown}")
    return problems


def test_every_step_has_an_id_a_title_and_typed_parameters_slack_accepts(manifest: dict[str, Any]) -> None:
    functions = manifest["functions"]
    problems = []
    for callback_id, definition in functions.items():
        if not CALLBACK_ID.match(callback_id):
            problems.append(f"{callback_id}: not a callback_id")
        if not isinstance(definition.get("title"), str) or not definition["title"].strip():
            problems.append(f"{callback_id}: needs a title")
        for side in ("input_parameters", "output_parameters"):
            problems.extend(parameter_problems(f"{callback_id}.{side}", definition.get(side)))
    assert problems == []


def test_the_steps_in_the_manifest_are_the_steps_baton_listens_for(manifest: dict[str, Any]) -> None:
    assert set(manifest["functions"]) == {REQUEST_APPROVAL, START_WORKFLOW}


def test_the_app_is_org_ready_runs_its_steps_itself_and_hears_them_run(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["org_deploy_enabled"] is True  # custom steps show in Workflow Builder only for org-ready apps
    assert settings["function_runtime"] == "remote"
    assert "function_executed" in settings["event_subscriptions"]["bot_events"]
    assert settings["event_subscriptions"]["request_url"] == settings["interactivity"]["request_url"]
    assert settings["interactivity"]["is_enabled"] is True  # the approvers' buttons


def test_the_app_has_the_scopes_its_steps_need(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # functions.complete* need no scope; the approvers' DMs do, and a user group step reads its members.
    assert {"chat:write", "im:write", "users:read", "usergroups:read"} <= scopes


def test_forms_may_ask_for_files(manifest: dict[str, Any]) -> None:
    # Slack refuses a modal with a file_input (a `type: file` field) from an app without files:read.
    assert "files:read" in manifest["oauth_config"]["scopes"]["bot"]


def test_the_manifest_is_one_app_slack_can_read(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert set(manifest) <= {"_metadata", "display_information", "features", "oauth_config", "settings", "functions"}
    assert 0 < len(manifest["display_information"]["name"]) <= 35
    assert len(manifest["display_information"]["description"]) <= 140
