"""Choose the store from DATABASE_URL: `sqlite:///path` or `postgresql://user@host/db`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from .base import Store
from .errors import StoreError
from .postgres import PostgreSQLStore
from .sqlite import SQLiteStore

__all__ = ["is_postgresql", "store_for"]


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def store_for(
    url: str,
    *,
    auto_migrate: bool | None = None,
    pool_size: int = 10,
    outbox_lease_seconds: float = 60.0,
) -> Store:
    """A store for `url`, not yet open. SQLite migrates at start unless told not to; PostgreSQL only when told."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return SQLiteStore(path, auto_migrate=True if auto_migrate is None else auto_migrate)
    if is_postgresql(url):
        return PostgreSQLStore(
            url,
            auto_migrate=bool(auto_migrate),
            pool_size=pool_size,
            outbox_lease=timedelta(seconds=outbox_lease_seconds),
        )
    raise StoreError(f"unsupported DATABASE_URL {url!r}: use sqlite:///path/to/baton.db or postgresql://…")
