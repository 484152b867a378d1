"""Fault injection: injected failures, chaos mode and Slack's per-tier rate limits."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeAlias

__all__ = [
    "RATE_LIMIT_WINDOW_SECONDS",
    "Delay",
    "Drop",
    "Fault",
    "FaultInjector",
    "HttpError",
    "RateLimited",
    "SlackError",
]

RATE_LIMIT_WINDOW_SECONDS: Final = 60.0

# Requests per minute for each rate-limit tier (Slack's documented minimums; t5 stands for "special").
_TIER_PER_MINUTE: Final[Mapping[str, int]] = MappingProxyType({"t1": 1, "t2": 20, "t3": 50, "t4": 100, "t5": 60})


@dataclass(frozen=True)
class HttpError:
    """Answer with a bare HTTP error status (an outage at Slack's edge), not a Slack JSON error."""

    status: int = 500
    body: str = "Internal Server Error"


@dataclass(frozen=True)
class RateLimited:
    """Answer HTTP 429 with a ``Retry-After`` header and ``{"ok": false, "error": "ratelimited"}``."""

    retry_after: int = 1


@dataclass(frozen=True)
class SlackError:
    """Answer HTTP 200 with ``{"ok": false, "error": <error>}``."""

    error: str = "internal_error"


@dataclass(frozen=True)
class Delay:
    """Sleep before answering; the call then proceeds normally (it is not a failure)."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Fault: TypeAlias = HttpError | RateLimited | SlackError | Delay | Drop


@dataclass
class _Injected:
    fault: Fault
    remaining: int | None
    channel: str | None = None


@dataclass
class _Chaos:
    rate: float
    rng: random.Random
    faults: tuple[Fault, ...]
    methods: frozenset[str] | None


@dataclass
class _RateLimits:
    window: float
    per_minute: Mapping[str, int]
    history: dict[str, deque[float]] = field(default_factory=dict)


class FaultInjector:
    """Decides which calls fail and how: faults queued per method, random chaos, and rate limits."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._faults: dict[str, list[_Injected]] = {}
        self._chaos: _Chaos | None = None
        self._rate_limits: _RateLimits | None = None

    def inject(self, method_or_star: str, fault: Fault, times: int | None = 1, *, channel: str | None = None) -> None:
        """Answer the next ``times`` calls of a method (``"*"``: any) with ``fault`` (``None``: always); with
        ``channel``, only calls whose ``channel`` argument is that (a user ID for a DM opened by user ID)."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every call)")
        self._faults.setdefault(method_or_star, []).append(_Injected(fault=fault, remaining=times, channel=channel))

    def clear(self) -> None:
        """Remove injected faults, chaos mode and rate limiting."""
        self._faults.clear()
        self._chaos = None
        self._rate_limits = None

    def random_failures(
        self, rate: float, seed: int, faults: Sequence[Fault], *, methods: Iterable[str] | None = None
    ) -> None:
        """Chaos mode: each call (of ``methods``, default all) fails with probability ``rate``; 0: off."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if rate == 0.0:
            self._chaos = None
            return
        if not faults:
            raise ValueError("random_failures needs at least one fault")
        self._chaos = _Chaos(
            rate=rate,
            rng=random.Random(seed),
            faults=tuple(faults),
            methods=frozenset(methods) if methods is not None else None,
        )

    def enforce_rate_limits(
        self, per_minute: Mapping[str, int] | None = None, *, window: float = RATE_LIMIT_WINDOW_SECONDS
    ) -> None:
        """Answer 429 once a method exceeds its tier's calls per window (chat.postMessage: per channel).

        ``per_minute`` overrides limits by method name or by tier (``"t3"``).
        """
        self._rate_limits = _RateLimits(window=window, per_minute=dict(per_minute or {}))

    def next_fault(self, method: str, args: Mapping[str, Any] | None = None) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            matching = [i for i in queue or () if i.channel is None or (args or {}).get("channel") == i.channel]
            if not matching:
                continue
            injected = matching[0]
            if injected.remaining is not None:
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._faults[key].remove(injected)
            return injected.fault
        chaos = self._chaos
        if chaos is not None and (chaos.methods is None or method in chaos.methods) and chaos.rng.random() < chaos.rate:
            return chaos.rng.choice(chaos.faults)
        return None

    def rate_limit_fault(self, method: str, args: Mapping[str, Any], tier: str | None) -> Fault | None:
        """Count the call against its tier's limit; a ``RateLimited`` fault once the window is full."""
        limits = self._rate_limits
        if limits is None:
            return None
        limit = limits.per_minute.get(method)
        if limit is None and tier is not None:
            limit = limits.per_minute.get(tier, _TIER_PER_MINUTE.get(tier))
        if limit is None:
            return None
        key = f"{method}:{args.get('channel', '')}" if method == "chat.postMessage" else method
        now = self._clock()
        history = limits.history.setdefault(key, deque())
        while history and history[0] <= now - limits.window:
            history.popleft()
        if len(history) >= limit:
            retry_after = max(1, math.ceil(history[0] + limits.window - now))
            return RateLimited(retry_after=retry_after)
        history.append(now)
        return None

    # --- listeners
