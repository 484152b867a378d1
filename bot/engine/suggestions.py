""""Did you mean …?" for a misspelt value in a workflow file (`aproval`, `requester.manger`, `form.amout`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(written: str, choices: Iterable[str], *, shown: str = "{}") -> str:
    """` (did you mean 'approval'?)` for the closest choice, or "" when none is close; `shown` formats it."""
    close = difflib.get_close_matches(written, sorted(set(choices)), n=1, cutoff=0.7)
    return f" (did you mean {shown.format(close[0])!r}?)" if close else ""
