"""`python -m bot forget <user>`: one person's id, name and email replaced by a pseudonym wherever Baton stores them.

The pseudonym (`forgotten-<hash>`) is an HMAC of the user id under a secret kept in the database, so it is the
same for every row and every run, and nobody without the database can recompute it from a list of user ids. The
whole rewrite is one transaction, and each request whose rows named the person gets one history line saying that a
person's data was erased there (not whose). Run again, it finds nothing left to change."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.catalog import load_catalog
from bot.engine import Event
from bot.engine.org import OrgChart
from bot.settings import Settings
from bot.store import Store, StoreError, store_for
from bot.store.records import ErasedRows

__all__ = [
    "ERASED_EVENT",
    "Erasure",
    "PersonToForget",
    "Pseudonymiser",
    "forget",
    "forget_command",
    "person_to_forget",
    "pseudonym_of",
]

ERASED_EVENT = "personal_data_erased"
_NOT_SENT = "not sent: its recipient's personal data was erased (python -m bot forget)"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class PersonToForget:
    """Whom to erase: their Slack user id, and the name and email org.yaml knows them by (if any)."""

    user_id: str
    name: str | None = None
    email: str | None = None
    in_org: bool = False


def person_to_forget(
    who: str, org: OrgChart, *, name: str | None = None, email: str | None = None
) -> PersonToForget | str:
    """The person named by a user id or an email of org.yaml (extra `name`/`email` for one no longer there);
    or why not."""
    wanted = who.strip()
    user_id = next(
        (uid for uid, person in org.people.items() if wanted == uid or (person.email or "").lower() == wanted.lower()),
        None,
    )
    if user_id is None:
        if "@" in wanted:
            return f"nobody in org.yaml has the email {wanted!r}; give their Slack user id (U…) instead"
        if not _USER_ID.fullmatch(wanted):
            return f"{wanted!r} is neither a Slack user id (U…) nor an email of someone in org.yaml"
        return PersonToForget(wanted, name=name, email=email)
    person = org.people[user_id]
    return PersonToForget(user_id, name=name or person.name, email=email or person.email, in_org=True)


class Pseudonymiser:
    """Rewrites a person's mentions (`<@U…>`), user id, email and full name, in any case, to their pseudonym;
    JSON inside its strings and keys (bot/store/records.py `Redaction`)."""

    def __init__(self, person: PersonToForget, pseudonym: str) -> None:
        self.pseudonym = pseudonym
        uid = re.escape(person.user_id)
        patterns = [rf"<@{uid}(?:\|[^>]*)?>", rf"(?<![A-Za-z0-9]){uid}(?![A-Za-z0-9])"]
        needles = [person.user_id]
        if person.email:
            patterns.append(rf"(?<![\w.+-]){re.escape(person.email)}(?![\w-])")
            needles.append(person.email)
        if person.name and person.name.strip():
            words = r"\s+".join(re.escape(word) for word in person.name.split())
            patterns.append(rf"(?<!\w){words}(?!\w)")
            needles.append(person.name.split()[0])  # a wide net: the pattern decides
        self._pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
        self.needles = tuple(dict.fromkeys(needle.lower() for needle in needles))

    def text(self, value: str) -> str:
        return self._pattern.sub(self.pseudonym, value)

    def json(self, value: str) -> str:
        try:
            loaded = json.loads(value)
        except ValueError:
            return self.text(value)
        rewritten = self._walk(loaded)
        return value if rewritten == loaded else json.dumps(rewritten, ensure_ascii=False, separators=(",", ":"))

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, dict):
            return {self.text(key): self._walk(item) for key, item in value.items()}
        return value


@dataclass(frozen=True)
class Erasure:
    """What `forget` did."""

    person: PersonToForget
    pseudonym: str
    erased: ErasedRows

    @property
    def changed_anything(self) -> bool:
        return bool(sum(self.erased.changed.values()) or self.erased.dropped_messages)

    def summary(self) -> list[str]:
        """The lines the command prints: what changed, and what the operator still has to do."""
        who = self.person.user_id
        lines = []
        if not self.changed_anything:
            lines.append(f"nothing to change: {who} is named nowhere in the database (forgotten as {self.pseudonym}?)")
        else:
            rows = ", ".join(f"{count} {table}" for table, count in self.erased.changed.items() if count)
            lines.append(f"forgot {who}: now {self.pseudonym} in {rows} rows")
            dropped = self.erased.dropped_messages
            lines.append(
                f"{len(self.erased.requests)} requests got a history line saying that personal data was erased"
                + (f"; {dropped} messages to them will not be sent" if dropped else "")
            )
        if self.erased.open_tasks:
            lines.append(
                f"{self.erased.open_tasks} open tasks were theirs and now wait for {self.pseudonym}, who cannot act: "
                "an admin can decide them, or cancel those requests"
            )
        if self.erased.definitions:
            lines.append(
                f"stored versions of {', '.join(self.erased.definitions)} still name them (as the workflow files do): "
                "edit those files to name someone else"
            )
        if self.person.in_org:
            lines.append(f"now remove {who} from org.yaml (and from BATON_ADMINS, API_TOKENS and workflow files)")
        elif not self.person.name:
            lines.append(f"{who} is not in org.yaml: only the user id was looked for (add --name and --email)")
        lines.append("messages Baton already sent stay in Slack; Slack's own retention and deletion apply there")
        return lines


async def forget(store: Store, person: PersonToForget, now: datetime) -> Erasure:
    """Erase the person in one transaction: every row rewritten, a history line on each request concerned."""
    async with store.transaction() as work:
        secret = await work.pseudonym_secret(secrets.token_hex(32))
        pseudonym = pseudonym_of(person.user_id, secret)
        erased = await work.erase_person(person.user_id, Pseudonymiser(person, pseudonym), _NOT_SENT)
        await work.append_history([(request, erased_line(now)) for request in erased.requests])
    return Erasure(person, pseudonym, erased)


def pseudonym_of(user_id: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return f"forgotten-{digest[:10]}"


def erased_line(now: datetime) -> Event:
    """The history line an erasure leaves: that one person's data was erased here, not whose."""
    return Event(ERASED_EVENT, now)


def forget_command(settings: Settings, who: str, *, name: str | None, email: str | None) -> int:
    """`python -m bot forget`: print what changed; exit 0, 2 for a person it cannot name, 3 for a store problem."""
    catalog = load_catalog(settings.workflows_dir)
    person = person_to_forget(who, catalog.org, name=name, email=email)
    if isinstance(person, str):
        print(f"baton: {person}", file=sys.stderr)
        return 2

    async def run() -> Erasure:
        store = store_for(settings.database_url, auto_migrate=settings.auto_migrate)
        await store.open()
        try:
            return await forget(store, person, datetime.now(UTC))
        finally:
            await store.close()

    try:
        erasure = asyncio.run(run())
    except StoreError as error:
        print(f"baton: {error}; nothing was changed", file=sys.stderr)
        return 3
    print("\n".join(erasure.summary()))
    return 0
