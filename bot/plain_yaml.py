"""A plain YAML mapping (no anchors, aliases, tags or merge keys) read from libyaml's events, without a node tree.

PyYAML builds every document as a tree of nodes, each with two marks, before it constructs a single value; for a
large org.yaml that tree costs about four fifths of the load and tens of megabytes. Reading libyaml's events
directly gives the same values (each scalar is resolved and constructed by the loader's own resolver and
constructor, so `yes`, `10:00`, `2026-12-25` and `~` mean what they mean in YAML 1.1) several times faster. It
gives up, returning None, on anything it does not handle exactly as PyYAML does, and on any problem in the file:
the caller then reads the file the usual way, which says what is wrong and where.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

__all__ = ["load_plain_mapping"]

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _NotPlain(Exception):
    """The document uses something this reader leaves to PyYAML's own loading."""


class _Pending:
    """A mapping or sequence being read; for a mapping, the key whose value comes next."""

    __slots__ = ("container", "has_key", "key")

    def __init__(self, container: dict[Any, Any] | list[Any]) -> None:
        self.container = container
        self.has_key = False
        self.key: Any = None


def load_plain_mapping(text: str, loader_type: type[yaml.CSafeLoader]) -> dict[Any, Any] | None:
    """The one document of `text` when it is a plain mapping, as `yaml.load(text, loader_type)` gives it; None
    when it is not a mapping, not plain (anchors, aliases, tags, merge keys, a key twice, several documents),
    or cannot be read."""
    loader = loader_type(text)
    try:
        return _read(loader)
    except Exception:  # any problem at all: PyYAML's own loading reads the file and says what it is
        return None
    finally:
        loader.dispose()


def _read(loader: yaml.CSafeLoader) -> dict[Any, Any] | None:
    resolved: dict[tuple[str, tuple[bool, bool]], str] = {}  # most keys and many values repeat: resolve each once
    stack: list[_Pending] = []
    document: Any = None
    documents = 0
    while True:
        event = loader.get_event()
        value: Any
        if isinstance(event, ScalarEvent):
            value = _scalar(loader, event, resolved)
        elif isinstance(event, MappingStartEvent | SequenceStartEvent):
            if event.anchor is not None or event.tag is not None:
                raise _NotPlain
            stack.append(_Pending({} if isinstance(event, MappingStartEvent) else []))
            continue
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            value = stack.pop().container
        elif isinstance(event, AliasEvent):
            raise _NotPlain
        elif isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _NotPlain  # PyYAML refuses a second document; let it say so
            continue
        elif isinstance(event, StreamEndEvent) or event is None:
            return document if isinstance(document, dict) else None
        else:  # stream start, document end
            continue
        if stack:
            _add(stack[-1], value)
        else:
            document = value


def _scalar(loader: yaml.CSafeLoader, event: ScalarEvent, resolved: dict[tuple[str, tuple[bool, bool]], str]) -> Any:
    """A scalar's value: text as it is, anything else (a number, a boolean, null, a date) made by the loader's own
    constructor, after the loader's own resolver said what it is."""
    if event.anchor is not None or event.tag is not None:
        raise _NotPlain
    key = (event.value, event.implicit)
    tag = resolved.get(key)
    if tag is None:
        tag = resolved[key] = loader.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == _STR:
        return event.value
    if tag == _MERGE:
        raise _NotPlain
    return loader.construct_object(yaml.ScalarNode(tag, event.value, style=event.style), deep=True)


def _add(pending: _Pending, value: Any) -> None:
    container = pending.container
    if isinstance(container, list):
        container.append(value)
    elif not pending.has_key:
        if isinstance(value, dict | list):
            raise _NotPlain  # a complex key
        pending.key, pending.has_key = value, True
    else:
        if pending.key in container:
            raise _NotPlain  # a key twice: PyYAML's own loading tells where
        container[pending.key] = value
        pending.has_key = False
