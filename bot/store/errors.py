"""The store's one error: the database cannot be used, and the message says why and what to do."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["StoreError", "opened"]

T = TypeVar("T")


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


def opened(handle: T | None) -> T:
    """A store's connection (or pool), or StoreError when the store is not open."""
    if handle is None:
        raise StoreError("the store is not open")
    return handle
