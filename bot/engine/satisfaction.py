"""Satisfaction: who may rate a finished request (its requester, once it completed or was rejected), and the
period's figures from the ratings in the event log (average, count per score, comments, trend)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .builder import refuse
from .definition import WorkflowDefinition
from .events import Event, RatingRecorded, Refusal, Transition
from .instance import Instance, InstanceStatus, Rating
from .refusals import RefusalReason

__all__ = [
    "RATED_EVENT",
    "SCORES",
    "RateRequest",
    "RatingComment",
    "RatingRow",
    "Satisfaction",
    "comment_rating",
    "rate",
    "satisfaction_figures",
]

RATED_EVENT = "request_rated"
SCORES = (1, 2, 3, 4, 5)
COMMENT_LIMIT = 2000
RATEABLE = (InstanceStatus.COMPLETED, InstanceStatus.REJECTED)


@dataclass(frozen=True)
class RateRequest:
    """The requester scores how their finished request went (1 to 5); a new score replaces the old one."""

    actor: str
    score: int


@dataclass(frozen=True)
class RatingComment:
    """The requester adds (or changes, or with empty text removes) the comment of their rating."""

    actor: str
    text: str


def rating_refusal(
    definition: WorkflowDefinition, instance: Instance, actor: str, now: datetime, *, needs_rating: bool = False
) -> Refusal | None:
    """Why `actor` may not rate this request now, or None: the requester of a completed or rejected request,
    of a workflow that asks for ratings, decides from stored state alone."""
    if actor != instance.requester:  # told no more than that: not even the request's title
        return refuse(RefusalReason.NOT_REQUESTER_TO_RATE, now, actor, action="rate")
    facts = {"title": instance.title}
    if not definition.satisfaction:
        return refuse(RefusalReason.NO_RATINGS_HERE, now, actor, action="rate", facts=facts)
    if instance.status not in RATEABLE:
        status = {**facts, "status": instance.status.value}
        return refuse(RefusalReason.NOT_RATEABLE, now, actor, action="rate", facts=status)
    if needs_rating and instance.rating is None:
        return refuse(RefusalReason.RATE_FIRST, now, actor, action="rate", facts=facts)
    return None


def rate(
    definition: WorkflowDefinition, instance: Instance, command: RateRequest, now: datetime
) -> Transition | Refusal:
    """Record the requester's score (keeping any comment they wrote); the outcome message shows it in place."""
    if command.score not in SCORES:
        return refuse(RefusalReason.UNKNOWN_SCORE, now, command.actor, action="rate")
    refusal = rating_refusal(definition, instance, command.actor, now)
    if refusal is not None:
        return refusal
    earlier = instance.rating
    comment = earlier.comment if earlier else None
    return _rated(instance, Rating(score=command.score, comment=comment, at=now), earlier, command.actor, now)


def comment_rating(
    definition: WorkflowDefinition, instance: Instance, command: RatingComment, now: datetime
) -> Transition | Refusal:
    """Set the comment of the requester's rating (the score stays)."""
    refusal = rating_refusal(definition, instance, command.actor, now, needs_rating=True)
    if refusal is not None:
        return refusal
    earlier = instance.rating
    assert earlier is not None  # refused above otherwise
    comment = command.text.strip()[:COMMENT_LIMIT] or None
    return _rated(instance, Rating(score=earlier.score, comment=comment, at=now), earlier, command.actor, now)


def _rated(instance: Instance, rating: Rating, earlier: Rating | None, actor: str, now: datetime) -> Transition:
    data: dict[str, object] = {"score": rating.score, "comment": rating.comment}
    if earlier is not None:
        data["replaces"] = earlier.score
    rated = instance.model_copy(update={"rating": rating, "updated_at": now})
    return Transition(rated, (Event(RATED_EVENT, now, actor=actor, data=data),), (RatingRecorded(),))


# ---- the figures of a period ---------------------------------------------------------------------


@dataclass(frozen=True)
class RatingRow:
    """One `request_rated` line of the event log (the latest of a request is its rating)."""

    event_id: int
    instance_id: int
    workflow: str
    at: datetime
    score: int
    comment: str | None


@dataclass(frozen=True)
class Satisfaction:
    """The ratings given in a period (a request's latest one counts, in the period it was given), against the
    period before."""

    count: int = 0
    average: float | None = None
    distribution: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # how many of each score, 1 to 5
    comments: tuple[RatingRow, ...] = ()
    previous_count: int = 0
    previous_average: float | None = None

    @property
    def arrow(self) -> str:
        if self.average is None or self.previous_average is None:
            return "→"
        return "↑" if self.average > self.previous_average else "↓" if self.average < self.previous_average else "→"


def latest_ratings(rows: Iterable[RatingRow]) -> list[RatingRow]:
    """Each request's latest rating (a second rating replaces the first)."""
    latest: dict[int, RatingRow] = {}
    for row in sorted(rows, key=lambda r: (r.at, r.event_id)):
        latest[row.instance_id] = row
    return sorted(latest.values(), key=lambda r: (r.at, r.event_id))


def satisfaction_figures(
    rows: Iterable[RatingRow], start: datetime, end: datetime, previous_start: datetime
) -> Satisfaction:
    """The figures of [start, end) and the average of [previous_start, start), from every rating event of both."""
    latest = latest_ratings(rows)
    now = [row for row in latest if start <= row.at < end and row.score in SCORES]
    before = [row for row in latest if previous_start <= row.at < start and row.score in SCORES]
    counts = [sum(1 for row in now if row.score == score) for score in SCORES]
    return Satisfaction(
        count=len(now),
        average=_mean(row.score for row in now),
        distribution=(counts[0], counts[1], counts[2], counts[3], counts[4]),
        comments=tuple(row for row in now if row.comment),
        previous_count=len(before),
        previous_average=_mean(row.score for row in before),
    )


def _mean(scores: Iterable[int]) -> float | None:
    values = list(scores)
    return sum(values) / len(values) if values else None
