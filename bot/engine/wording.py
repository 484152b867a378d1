"""How a template names what it fills in, as the adapter that shows it wants: the engine fills `{requester}` and
`{form.x}` with the `Wording` its directory carries, and writes no markup of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["PLAIN_WORDING", "PlainWording", "Wording"]


class Wording(Protocol):
    """A person named in text, and text a person typed, as the place the text is shown needs them."""

    def person(self, user_id: str) -> str: ...

    def typed(self, text: str) -> str: ...


@dataclass(frozen=True)
class PlainWording:
    """No markup: a person as `@U…`, typed text as typed (for a directory nobody renders, such as in tests)."""

    def person(self, user_id: str) -> str:
        return f"@{user_id}"

    def typed(self, text: str) -> str:
        return text


PLAIN_WORDING = PlainWording()
