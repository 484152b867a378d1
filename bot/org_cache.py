"""A compiled copy of org.yaml, kept beside the database, used only while org.yaml's SHA-256 still matches it.

A large organisation's org.yaml takes over a second to parse even with libyaml, and the parser's node tree leaves
tens of megabytes behind; the compiled copy is the validated org as JSON, which loads in a fraction of that. It is
trusted for nothing: its header must name the SHA-256 of org.yaml as it is now, the fingerprint of the org model
that wrote it and the SHA-256 of its own body, and the body is validated again by the same model as org.yaml.
Anything else (another org.yaml, another Baton, a damaged or unreadable file) is a miss: org.yaml is read again
and the copy rewritten, atomically (a temporary file renamed over it), so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydantic
from pydantic import ValidationError

from bot.atomic_write import write_atomically
from bot.engine.org import OrgChart

__all__ = ["OrgCache", "source_digest"]

log = logging.getLogger(__name__)

_FORMAT = 1  # of the file itself: a header line of JSON, a newline, the org as JSON


def source_digest(raw: bytes) -> str:
    """The SHA-256 of org.yaml's bytes, which names the compiled copy made from them."""
    return hashlib.sha256(raw).hexdigest()


@cache
def _model_fingerprint() -> str:
    """What a copy must have been written by: the org model's shape (fields, types, limits) and pydantic's version."""
    schema = json.dumps(OrgChart.model_json_schema(), sort_keys=True)
    return hashlib.sha256(f"{pydantic.VERSION}\n{schema}".encode()).hexdigest()


@dataclass(frozen=True)
class OrgCache:
    """The compiled copy at `path`."""

    path: Path

    def read(self, digest: str) -> OrgChart | None:
        """The org compiled from the org.yaml whose SHA-256 is `digest`; None when there is no such copy."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("org cache %s is unreadable (%s); reading org.yaml instead", self.path, error.strerror or error)
            return None
        header_line, _, body = raw.partition(b"\n")
        try:
            header = json.loads(header_line)
        except ValueError:
            return None
        expected = {
            "format": _FORMAT,
            "source_sha256": digest,
            "model": _model_fingerprint(),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        if header != expected:
            return None  # another org.yaml (edited since), another Baton, or a damaged copy
        try:
            return OrgChart.model_validate_json(body)
        except ValidationError:  # the same model refusing what it wrote: only a hand-made file gets here
            log.warning("org cache %s does not hold a valid org; reading org.yaml instead", self.path)
            return None

    def write(self, digest: str, body: bytes) -> None:
        """Keep `body` (the org as JSON, validated) as the compiled copy of the org.yaml whose SHA-256 is `digest`.
        A failure is logged and otherwise ignored: Baton then reads org.yaml at every start, as without a cache."""
        header = {
            "format": _FORMAT,
            "source_sha256": digest,
            "model": _model_fingerprint(),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        try:
            write_atomically(self.path, json.dumps(header).encode() + b"\n" + body)
        except OSError as error:
            log.warning("org cache %s not written (%s); org.yaml is read at every start", self.path, error)
