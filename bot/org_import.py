"""`python -m bot org import`: write or update org.yaml from the Slack workspace.

People come from `users.list` (names, emails, time zones, titles; bots and Slackbot left out); managers from a
custom profile field (`--manager-field`, e.g. Slack's "Manager" field, read with `users.profile.get`), or from a
CSV export of the HR system (`--managers-csv`, matched by email). The merge (bot/org_merge.py) keeps groups,
settings, comments and hand-made entries; the new file is checked as Baton would load it before it replaces the
old one, in one rename, and what changed is printed."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.atomic_write import write_atomically
from bot.catalog import ORG_FILE, CatalogError, load_org
from bot.org_merge import OrgChanges, SlackMember, merge_members
from bot.settings import Settings

__all__ = ["ImportProblem", "add_org_arguments", "managers_from_csv", "org_command", "workspace_members"]

_PAGE = 200  # users.list: Slack recommends no more than 200 a page
_SLACKBOT = "USLACKBOT"
_EMAIL_COLUMNS = ("email", "work_email", "employee_email")
_MANAGER_COLUMNS = ("manager_email", "manager", "supervisor_email", "reports_to")


class ImportProblem(Exception):
    """Something the person running the import must fix; the message says what."""


def add_org_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="org_action", required=True)
    importing = actions.add_parser("import", help="write or update org.yaml from the Slack workspace")
    source = importing.add_mutually_exclusive_group()
    source.add_argument(
        "--managers-csv", type=Path, metavar="FILE", help="a CSV with columns email and manager_email (an HR export)"
    )
    source.add_argument(
        "--manager-field", metavar="LABEL", help='the custom profile field that names each manager, e.g. "Manager"'
    )
    importing.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    importing.add_argument("--file", type=Path, help="the org file to update (default: WORKFLOWS_DIR/org.yaml)")


def org_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `org import`; 0 when done (or nothing to do), 2 for a problem the message explains."""
    if settings.slack_bot_token is None:
        print("baton: org import reads the workspace with SLACK_BOT_TOKEN; set it (see .env.example)", file=sys.stderr)
        return 2
    target: Path = args.file or settings.workflows_dir / ORG_FILE
    try:
        changes = asyncio.run(_import(settings, target, args))
    except ImportProblem as problem:
        print(f"baton: {problem}", file=sys.stderr)
        return 2
    for line in changes.report():
        print(line)
    if not changes.changed:
        print(f"{target} is up to date")
    elif args.dry_run:
        print(f"dry run: {target} was not changed")
    else:
        print(f"wrote {target}; run `python -m bot check` to see that every workflow still finds its people")
    return 0


async def _import(settings: Settings, target: Path, args: argparse.Namespace) -> OrgChanges:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=int(settings.slack_api_timeout_seconds) + 1,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=10)],  # waits out Retry-After
    )
    try:
        members = await workspace_members(client)
        managers: dict[str, str] | None = None
        if args.managers_csv is not None:
            managers = managers_from_csv(args.managers_csv, members)
        elif args.manager_field is not None:
            managers = await managers_from_profile_field(client, members, args.manager_field)
    except SlackApiError as error:
        raise ImportProblem(_slack_refusal(error)) from None
    finally:
        if client.session is not None:
            await client.session.close()
    org_file = _OrgFile.read(target)
    changes = merge_members(org_file.document, members, managers, new_mapping=org_file.mapping_type)
    if changes.changed and not args.dry_run:
        org_file.replace()
    return changes


async def workspace_members(client: AsyncWebClient) -> list[SlackMember]:
    """Every person of the workspace (deactivated ones marked), a page of users.list at a time."""
    members: list[SlackMember] = []
    cursor = ""
    while True:
        page = await client.users_list(limit=_PAGE, cursor=cursor or None)
        for user in page.get("members") or []:
            if isinstance(user, dict) and _is_a_person(user):
                members.append(_member(user))
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            return members


def _is_a_person(user: Mapping[str, Any]) -> bool:
    return not (user.get("is_bot") or user.get("is_app_user") or user.get("id") == _SLACKBOT)


def _member(user: Mapping[str, Any]) -> SlackMember:
    profile = user.get("profile") or {}
    name = str(profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name"))
    email = profile.get("email")
    return SlackMember(
        id=str(user["id"]),
        name=name.strip() or str(user["id"]),
        email=str(email).strip().lower() if email else None,
        tz=str(user["tz"]) if user.get("tz") else None,
        title=str(profile.get("title")).strip() or None if profile.get("title") else None,
        deactivated=bool(user.get("deleted")),
    )


def managers_from_csv(path: Path, members: Sequence[SlackMember]) -> dict[str, str]:
    """Each person's manager, from an HR export matched by email: {user ID: manager's user ID}.

    Rows whose email or manager's email the workspace does not know are skipped (counted in the message of an
    export that matched nobody); a file without the two columns is refused, naming the columns it has."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ImportProblem(f"cannot read {path}: {error.strerror or error}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or []}
    email_column = next((columns[c] for c in _EMAIL_COLUMNS if c in columns), None)
    manager_column = next((columns[c] for c in _MANAGER_COLUMNS if c in columns), None)
    if email_column is None or manager_column is None:
        raise ImportProblem(
            f"{path}:1: the CSV needs an email column and a manager_email column; "
            f"it has {', '.join(reader.fieldnames or []) or 'none'}"
        )
    by_email = {member.email: member.id for member in members if member.email and not member.deactivated}
    managers: dict[str, str] = {}
    rows = 0
    for row in reader:
        rows += 1
        person = by_email.get((row.get(email_column) or "").strip().lower())
        manager = by_email.get((row.get(manager_column) or "").strip().lower())
        if person is not None and manager is not None and person != manager:
            managers[person] = manager
    if rows and not managers:
        raise ImportProblem(
            f"{path}: none of its {rows} rows matched two people of the workspace by email "
            "(Baton needs the users:read.email scope to see emails)"
        )
    return managers


async def managers_from_profile_field(
    client: AsyncWebClient, members: Sequence[SlackMember], label: str
) -> dict[str, str]:
    """Each person's manager from a custom profile field of type user (users.profile.get, one call each)."""
    team_profile: dict[str, Any] = (await client.team_profile_get()).get("profile") or {}
    fields: list[dict[str, Any]] = team_profile.get("fields") or []
    wanted = label.strip().lower()
    found = next((f for f in fields if str(f.get("label", "")).strip().lower() == wanted), None)
    if found is None:
        labels = ", ".join(str(f.get("label")) for f in fields) or "none"
        raise ImportProblem(f"the workspace has no profile field {label!r} (its fields: {labels})")
    known = {member.id for member in members if not member.deactivated}
    by_email = {member.email: member.id for member in members if member.email and not member.deactivated}
    managers: dict[str, str] = {}
    for member in members:
        if member.deactivated:
            continue
        profile = (await client.users_profile_get(user=member.id)).get("profile") or {}
        value = str(((profile.get("fields") or {}).get(found["id"]) or {}).get("value") or "").strip()
        manager = value if value in known else by_email.get(value.lower())
        if manager is not None and manager != member.id:
            managers[member.id] = manager
    return managers


def _slack_refusal(error: SlackApiError) -> str:
    data = error.response.data
    code = data.get("error") if isinstance(data, dict) else None
    if code == "missing_scope":
        needed = data.get("needed") if isinstance(data, dict) else None
        return f"Slack refused: the app lacks the scope {needed or '(not said)'}; add it in manifest.yml and reinstall"
    if code in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
        return f"Slack refused the token ({code}); check SLACK_BOT_TOKEN"
    return f"Slack refused the import ({code or 'no reason given'})"


@dataclass
class _OrgFile:
    """org.yaml as a document to change and write back in the same form: YAML keeps its comments and order
    (ruamel's round trip); an org written as JSON (an HR sync's, quicker to load) is written as JSON."""

    path: Path
    document: Any
    as_json: bool

    @classmethod
    def read(cls, path: Path) -> _OrgFile:
        try:
            text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
        except OSError as error:
            raise ImportProblem(f"cannot read {path}: {error.strerror or error}") from None
        if text.lstrip().startswith("{"):
            try:
                return cls(path, json.loads(text), as_json=True)
            except ValueError as error:
                raise ImportProblem(f"{path}: not valid JSON ({error}); fix it or move it away") from None
        try:
            document = _yaml().load(text) if text.strip() else None
        except YAMLError as error:
            raise ImportProblem(f"{path}: not valid YAML ({error}); fix it or move it away") from None
        if document is None:
            document = CommentedMap()
        if not isinstance(document, dict):
            raise ImportProblem(f"{path}:1: org.yaml must be a mapping with people: and groups:")
        return cls(path, document, as_json=False)

    @property
    def mapping_type(self) -> type[Any]:
        return dict if self.as_json else CommentedMap

    def replace(self) -> None:
        """Write the document beside the file, check it loads as Baton's org, then rename it over the file."""
        if self.as_json:
            text = json.dumps(self.document, ensure_ascii=False, indent=1) + "\n"
        else:
            out = io.StringIO()
            _yaml().dump(_quoted_where_needed(self.document), out)
            text = out.getvalue()
        write_atomically(self.path, text.encode(), check=self._loads)

    def _loads(self, written: Path) -> None:
        try:
            load_org(written)
        except CatalogError as error:
            kept = f"the updated org would not load, so {self.path} was left as it was"
            raise ImportProblem(f"{kept}:\n{error}") from None


def _quoted_where_needed(value: Any) -> Any:
    """Quote the strings that Baton's YAML 1.1 reader would take for something else (a name `No`, `09:00`):
    ruamel writes YAML 1.2, where they are plain strings."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _quoted_where_needed(item)
    elif isinstance(value, list):
        value[:] = [_quoted_where_needed(item) for item in value]
    elif isinstance(value, str) and not isinstance(value, DoubleQuotedScalarString) and _read_otherwise(value):
        return DoubleQuotedScalarString(value)
    return value


def _read_otherwise(text: str) -> bool:
    try:
        return bool(pyyaml.safe_load(text) != text)
    except pyyaml.YAMLError:
        return True


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml
