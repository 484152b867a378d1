"""Baton's signature on what it gives Slack to bring back: a modal's private_metadata comes back only as sealed.

The key is derived from the signing secret (so every Baton process of one app agrees, and nothing new needs
configuring) and each seal names the person the modal was opened for, so metadata from one person's modal
cannot be replayed in another's. Task ids elsewhere (button values, block ids) need no seal: they are only
lookup keys, and what a person may do with the task is decided from stored state."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

__all__ = ["MetadataSeal"]

_PURPOSE = b"baton/private_metadata/v1"
_MAC_CHARS = 32  # 128 bits of HMAC-SHA256


class MetadataSeal:
    """Seal private_metadata for one person, and open only what Baton sealed for them."""

    def __init__(self, signing_secret: str | None) -> None:
        root = signing_secret.encode() if signing_secret else secrets.token_bytes(32)
        self._key = hmac.new(root, _PURPOSE, hashlib.sha256).digest()

    def _mac(self, user_id: str, text: str) -> str:
        message = user_id.encode() + b"\x00" + text.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:_MAC_CHARS]

    def seal(self, user_id: str, text: str) -> str:
        """`text` with Baton's signature for `user_id` in front."""
        return f"{self._mac(user_id, text)}:{text}"

    def opened(self, user_id: str, sealed: Any) -> str | None:
        """The text Baton sealed for `user_id`, or None for anything else (forged, altered, someone else's)."""
        if not isinstance(sealed, str) or len(sealed) <= _MAC_CHARS or sealed[_MAC_CHARS] != ":":
            return None
        mac, text = sealed[:_MAC_CHARS], sealed[_MAC_CHARS + 1 :]
        return text if hmac.compare_digest(mac, self._mac(user_id, text)) else None

    def sealed_view(self, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """The view with its private_metadata sealed for `user_id`."""
        return {**view, "private_metadata": self.seal(user_id, str(view.get("private_metadata", "")))}
