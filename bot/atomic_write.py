"""A file replaced in one rename: written beside it, synced, optionally checked, then renamed over it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, content: bytes, *, check: Callable[[Path], None] | None = None) -> None:
    """Replace `path` by `content` so that a reader sees the old file or the new one, never half of one. The new
    file is readable by its owner only (mode 0600); `check` sees it before the rename and may raise to keep the old
    one. Raises OSError when the file cannot be written; no partial file is left behind either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial" + path.suffix, dir=path.parent)
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
