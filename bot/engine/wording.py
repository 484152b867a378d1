"""Text the engine composes as facts (what the workflow's owner or the engine wrote, what a person typed, a person
by user id), and the `Wording` an adapter shows it in: the engine writes no markup of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["PLAIN_WORDING", "Named", "Part", "PlainWording", "Typed", "WordedText", "Wording", "Written", "worded"]


class Wording(Protocol):
    """A person named in text, and text a person typed, as the place the text is shown needs them."""

    def person(self, user_id: str) -> str: ...

    def typed(self, text: str) -> str: ...


@dataclass(frozen=True)
class PlainWording:
    """No markup: a person as `@U…`, typed text as typed (for text any adapter may show or escape)."""

    def person(self, user_id: str) -> str:
        return f"@{user_id}"

    def typed(self, text: str) -> str:
        return text


PLAIN_WORDING = PlainWording()


class Written(BaseModel):
    """Text the workflow's owner wrote (a template, an option's label) or the engine wrote: shown as written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    written: str


class Typed(BaseModel):
    """Text a person typed (a form value, a comment): shown as typed, never as markup."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    typed: str


class Named(BaseModel):
    """A person, by user id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str


Part = Written | Typed | Named


class WordedText(BaseModel):
    """A title or a message as facts, in order; `limit`, if any, is the most characters it is shown in (typed
    text is cut before it is worded, so no entity is cut in half, and a person is never cut)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parts: tuple[Part, ...] = ()
    limit: int | None = None

    def shown_in(self, wording: Wording) -> str:
        """The text as `wording` shows it."""
        shown = ""
        for part in self.parts:
            piece = _shown(part, wording)
            if self.limit is not None and len(shown) + len(piece) > self.limit:
                return shown + _cut(part, wording, self.limit - len(shown))
            shown += piece
        return shown

    def __str__(self) -> str:
        raise TypeError("worded text has no wording of its own: show it with .shown_in(wording)")


def worded(*pieces: str | Part | WordedText, limit: int | None = None) -> WordedText:
    """Worded text of pieces in order (a `str` is written text); empty pieces dropped, neighbours of a kind joined."""
    runs: list[list[Any]] = []  # [kind, text, the part itself while a run is one part as given] or [Named, "", it]
    kind: type[Part]
    given: Part | None
    for piece in pieces:
        for part in piece.parts if isinstance(piece, WordedText) else (piece,):
            if isinstance(part, str):
                kind, text, given = Written, part, None
            elif isinstance(part, Named):
                runs.append([Named, "", part])
                continue
            elif isinstance(part, Written):
                kind, text, given = Written, part.written, part
            else:
                kind, text, given = Typed, part.typed, part
            if not text:
                continue
            if runs and runs[-1][0] is kind:
                runs[-1][1] += text
                runs[-1][2] = None
            else:
                runs.append([kind, text, given])
    return WordedText(parts=tuple(_part(*run) for run in runs), limit=limit)


def _part(kind: type[Part], text: str, given: Part | None) -> Part:
    if given is not None:
        return given
    return Written(written=text) if kind is Written else Typed(typed=text)


def _shown(part: Part, wording: Wording) -> str:
    if isinstance(part, Written):
        return part.written
    if isinstance(part, Typed):
        return wording.typed(part.typed)
    return wording.person(part.user)


def _cut(part: Part, wording: Wording, room: int) -> str:
    """As much of a part as fits in `room` characters once worded."""
    if isinstance(part, Written):
        return part.written[: max(0, room)]
    if isinstance(part, Named):
        return ""
    kept = part.typed
    while kept and len(wording.typed(kept)) > room:
        kept = kept[: max(0, len(kept) - (len(wording.typed(kept)) - room))]
    return wording.typed(kept)
