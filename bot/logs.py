"""Logging set-up: text or one JSON object per line, with request context, and secrets never written out."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "OneRecordFormatter",
    "RedactingFormatter",
    "configure_logging",
    "log_handler",
    "one_line",
]

CONTEXT_FIELDS = ("workflow", "instance", "step", "task", "user")
"""Pass these with `extra=` (e.g. `log.info(..., extra={"workflow": name, "instance": 12})`)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_REDACTED = "[redacted]"
# Slack tokens (xoxb-, xoxp-, xapp-, …) and bearer credentials, whoever logs them.
_LINE_SEPARATORS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_ESCAPES = {c: c.encode("unicode_escape").decode("ascii") for c in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}
_TOKEN_SHAPES = re.compile(r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{6,}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the context fields present, and any error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and blanks out known secrets and token-shaped text in what it produces."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return _TOKEN_SHAPES.sub(_REDACTED, text)


class OneRecordFormatter(logging.Formatter):
    """Text lines where only a record starts a line: what follows a line break (a traceback, text from outside
    inside a message) is indented, and other line separators are escaped, so nothing can forge a record."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return _LINE_SEPARATORS.sub(lambda m: _ESCAPES[m.group()], text).replace("\n", "\n    ")


def one_line(text: str, limit: int) -> str:
    """`text` for a log line: at most `limit` characters, every control or separator character escaped."""
    short = text if len(text) <= limit else text[:limit] + "…"
    return "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in short)


def log_handler(log_format: str, secrets: Iterable[str], *, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler writing `text` or `json` lines, with `secrets` redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    inner = JsonFormatter() if log_format == "json" else OneRecordFormatter(TEXT_FORMAT)
    handler.setFormatter(RedactingFormatter(inner, secrets))
    handler.set_name("baton")
    return handler


def configure_logging(level: str, log_format: str, secrets: Iterable[str]) -> logging.Handler:
    """Send every log record to stderr in the chosen format; replaces a handler installed earlier by Baton."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "baton":
            root.removeHandler(existing)
    handler = log_handler(log_format, secrets)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs two lines at INFO for every run of every job: four lines each 5 seconds, all day. Its
    # warnings (a run missed or skipped) stay; LOG_LEVEL=DEBUG shows the runs again.
    quiet = logging.WARNING if root.getEffectiveLevel() >= logging.INFO else logging.NOTSET
    logging.getLogger("apscheduler.executors").setLevel(quiet)
    return handler
