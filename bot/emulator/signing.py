"""Slack request signing (v0 HMAC-SHA256), as Slack computes X-Slack-Signature."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_VERSION", "sign_request", "signature_headers"]

SIGNATURE_VERSION = "v0"


def sign_request(signing_secret: str, timestamp: int, body: str) -> str:
    """Return Slack's signature of ``body`` sent at ``timestamp``: ``v0=`` + hex HMAC-SHA256."""
    basestring = f"{SIGNATURE_VERSION}:{timestamp}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signature_headers(signing_secret: str, timestamp: int, body: str) -> dict[str, str]:
    """Return the two headers Slack adds to every request it sends to an app."""
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign_request(signing_secret, timestamp, body),
    }
