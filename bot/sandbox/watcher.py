"""Notice edits to the workflow files by polling their modification times (no extra dependency)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["FileWatcher", "Signature", "signature"]

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]
_SUFFIXES = (".yaml", ".yml")


def signature(directory: Path) -> Signature:
    """Name, modification time and size of every YAML file in `directory` (empty if it cannot be read)."""
    try:
        found = []
        for path in directory.iterdir():
            if path.suffix.lower() in _SUFFIXES:
                stat = path.stat()
                found.append((path.name, stat.st_mtime_ns, stat.st_size))
    except OSError:
        return ()
    return tuple(sorted(found))


class FileWatcher:
    """Call `on_change` whenever a YAML file in `directory` is added, edited or removed."""

    def __init__(self, directory: Path, on_change: Callable[[], Awaitable[None]], *, interval: float = 1.0) -> None:
        self.directory = directory
        self.interval = interval
        self._on_change = on_change
        self._last = signature(directory)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-file-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            current = signature(self.directory)
            if current == self._last:
                continue
            self._last = current
            try:
                await self._on_change()
            except Exception:  # a failed reload must not stop watching
                log.exception("reloading %s failed", self.directory)
