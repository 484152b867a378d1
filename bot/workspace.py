"""What every part of the service shares: the store, the clock, the workflow catalog and the org directory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from bot.catalog import Catalog
from bot.clock import Clock
from bot.engine import Instance, OrgDirectory, WorkflowDefinition, can_start
from bot.store import Store, UnitOfWork

__all__ = ["Workspace", "definition_of"]


class Workspace:
    """The store, the clock and the current catalog and directory (a reload swaps the last two for everyone)."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        admins: tuple[str, ...],
        clock: Clock,
        zones: Callable[[str], str | None] | None = None,
        usergroups: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._admins = admins
        self._zones = zones
        self._usergroups = usergroups
        self.catalog = catalog
        self.directory = self._directory_for(catalog)

    def use_catalog(self, catalog: Catalog) -> None:
        """Switch to newly loaded workflow files; running instances keep the version they started on."""
        self.catalog = catalog
        self.directory = self._directory_for(catalog)

    def _directory_for(self, catalog: Catalog) -> OrgDirectory:
        return OrgDirectory(catalog.org, admins=self._admins, zones=self._zones, usergroups=self._usergroups)

    def now(self) -> datetime:
        return self.clock.now()

    def startable_by(self, user_id: str) -> list[WorkflowDefinition]:
        return [
            definition
            for _name, definition in sorted(self.catalog.workflows.items())
            if can_start(definition, self.directory, user_id)
        ]

    def may_see(self, definition: WorkflowDefinition, instance: Instance, user_id: str) -> bool:
        """The people involved in a request, its workflow's owners and admins may see it; to others it is not there."""
        return instance.involves(user_id) or self.directory.is_admin(user_id) or user_id in definition.owners

    async def directory_in(self, work: UnitOfWork, now: datetime) -> OrgDirectory:
        """The directory with the delegations in force now (they live in the store, shared by all processes)."""
        delegations = await work.active_delegations(now)
        return self.directory.with_delegations(delegations) if delegations else self.directory


async def definition_of(work: UnitOfWork, instance: Instance) -> WorkflowDefinition:
    """The workflow version an instance runs on (stored with every start)."""
    definition = await work.definition(instance.definition_version)
    if definition is None:  # missing only if the database was edited by hand
        raise LookupError(f"definition {instance.definition_version} of instance {instance.id} is missing")
    return definition
