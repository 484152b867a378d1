"""The requester's rating of a finished request (1 to 5, with an optional comment): the commands, each one pass
through the pipeline, the rule in `bot/engine/satisfaction.py`. `WorkflowService.ratings`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.engine import Instance, OrgDirectory, Refusal, RefusalReason, Transition, Why
from bot.engine.satisfaction import RateRequest, RatingComment, comment_rating, rate, rating_refusal
from bot.pipeline import CommandPipeline, Refused, Subject, by_request
from bot.store import UnitOfWork

__all__ = ["Ratings"]

log = logging.getLogger(__name__)


class Ratings:
    """Rate, ask whether a comment may be added, and comment; only the request's requester, from stored state."""

    def __init__(self, pipeline: CommandPipeline) -> None:
        self._pipeline = pipeline

    async def rate(self, instance_id: int, actor: str, score: int) -> Instance | Refused:
        """The requester scores their finished request (1 to 5); a second score replaces the first."""

        def judge(subject: Subject, _directory: OrgDirectory, now: datetime) -> Transition | Refusal:
            assert subject.instance is not None
            return rate(subject.definition, subject.instance, RateRequest(actor, score), now)

        line = "request rated: instance=%s score=%s"
        return await self._pipeline.run_logged(_rated_request(instance_id), judge, log, line, actor=actor, shown=score)

    async def may_comment_rating(self, instance_id: int, actor: str) -> Instance | Refused:
        """May `actor` comment on their rating of this request now? The request (for the modal), or the refusal."""

        def ask(subject: Subject, _directory: OrgDirectory, now: datetime) -> Refusal | None:
            assert subject.instance is not None
            return rating_refusal(subject.definition, subject.instance, actor, now, needs_rating=True)

        subject = await self._pipeline.check(_rated_request(instance_id), ask)
        if isinstance(subject, Refused):
            return subject
        assert subject.instance is not None
        return subject.instance

    async def comment_rating(self, instance_id: int, actor: str, text: str) -> Instance | Refused:
        """Set the comment of the requester's rating (empty text removes it)."""

        def judge(subject: Subject, _directory: OrgDirectory, now: datetime) -> Transition | Refusal:
            assert subject.instance is not None
            return comment_rating(subject.definition, subject.instance, RatingComment(actor, text), now)

        outcome = await self._pipeline.run(_rated_request(instance_id), judge)
        return outcome if isinstance(outcome, Refused) else outcome.instance


def _rated_request(instance_id: int) -> Callable[[UnitOfWork], Awaitable[Subject | Refused]]:
    """Load the request a rating names; one that is not there is refused as for someone else's."""
    load = by_request(instance_id)

    async def loaded(work: UnitOfWork) -> Subject | Refused:
        subject = await load(work)
        return Refused(Why(RefusalReason.NOT_REQUESTER_TO_RATE)) if isinstance(subject, Refused) else subject

    return loaded
