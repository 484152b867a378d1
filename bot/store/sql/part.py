"""What the SQL of every concern runs on: one transaction's session and the database's dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.engine import WorkflowDefinition
from bot.store.dialect import Dialect, SQLType
from bot.store.session import Session

__all__ = ["SQLPart"]


class SQLPart:
    """The base of each concern's SQL; the unit of work (bot/store/sql/__init__.py) is all of them at once."""

    def __init__(
        self, db: Session, dialect: Dialect, definitions: dict[str, WorkflowDefinition], *, locking: bool
    ) -> None:
        self._db = db
        self._dialect = dialect
        self._definitions = definitions  # immutable by content hash: shared by every unit of work of a store
        self._row_lock = dialect.row_lock if locking else ""  # read-only units lock nothing
        # The requests this unit saved (whether finished) or wrote events of that reports read (None: not saved):
        # before its commit, the report rows of those finished are written anew (SQLUnitOfWork.settle_reports).
        self._reported: dict[int, bool | None] = {}

    async def _all_among(self, sql: str, column: str, values: Sequence[Any], sql_type: SQLType) -> list[Any]:
        """The rows of `sql` whose `column` is one of `values`: `{among}` in `sql` stands for that condition."""
        rows: list[Any] = []
        for condition, params in self._dialect.member_of(column, values, sql_type):
            rows.extend(await self._db.all(sql.format(among=condition), params))
        return rows
