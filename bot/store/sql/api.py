"""Requests started over the API: the token that started each, its callback and its idempotency key."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bot.store.records import ApiOrigin, ApiStart
from bot.store.rows import epoch, moment

from .part import SQLPart

__all__ = ["SQLApiRequests"]

_COLUMNS = "instance_id, token, created_at, idempotency_key, body_digest, callback_url, callback_secret_env"


def _origin(row: Any) -> ApiOrigin:
    return ApiOrigin(row[0], moment(row[2]), ApiStart(row[1], row[3], row[4], row[5], row[6]))


class SQLApiRequests(SQLPart):
    """One row a request started through the API."""

    async def record_api_origin(self, origin: ApiOrigin) -> None:
        caller = origin.caller
        await self._db.write(
            f"INSERT INTO api_requests ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (origin.instance_id, caller.token, epoch(origin.created_at), caller.idempotency_key)
            + (caller.body_digest, caller.callback_url, caller.callback_secret_env),
        )

    async def api_origin(self, instance_id: int) -> ApiOrigin | None:
        row = await self._db.one(f"SELECT {_COLUMNS} FROM api_requests WHERE instance_id = ?", (instance_id,))
        return _origin(row) if row else None

    async def api_origins(self, instance_ids: Collection[int]) -> dict[int, ApiOrigin]:
        rows = await self._all_among(
            f"SELECT {_COLUMNS} FROM api_requests WHERE {{among}}", "instance_id", sorted(set(instance_ids)), "bigint"
        )
        return {row[0]: _origin(row) for row in rows}

    async def api_origin_by_key(self, token: str, idempotency_key: str) -> ApiOrigin | None:
        row = await self._db.one(
            f"SELECT {_COLUMNS} FROM api_requests WHERE token = ? AND idempotency_key = ?", (token, idempotency_key)
        )
        return _origin(row) if row else None
