"""The store's one error: the database cannot be used, and the message says why and what to do."""

from __future__ import annotations

__all__ = ["StoreError"]


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""
