"""The one Slack Web API client Baton makes: slack_sdk's, reporting every call and how it went to /metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

__all__ = ["CountingWebClient"]


class CountingWebClient(AsyncWebClient):
    """An AsyncWebClient that tells `on_call(method, ok, error)` about each call: the outbox's, and the direct
    ones Bolt's listeners make (views.open, views.publish, chat.postEphemeral, files, users.info...)."""

    def __init__(self, *args: Any, on_call: Callable[[str, bool, str | None], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_call = on_call

    @classmethod
    def like(cls, client: AsyncWebClient, *, on_call: Callable[[str, bool, str | None], None]) -> CountingWebClient:
        """A counting copy of `client` (token, URL, timeout, session and all)."""
        return cls(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            session=client.session,
            trust_env_in_session=client.trust_env_in_session,
            headers=client.headers,
            team_id=client.default_params.get("team_id"),
            logger=client.logger,
            retry_handlers=client.retry_handlers.copy() if client.retry_handlers is not None else None,
            on_call=on_call,
        )

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            data = error.response.data  # a dict from Slack, or text from a proxy in front of it
            self._on_call(api_method, False, str(data.get("error")) if isinstance(data, dict) else "http_error")
            raise
        except (aiohttp.ClientError, TimeoutError, OSError):
            self._on_call(api_method, False, "network")
            raise
        self._on_call(api_method, True, None)
        return response
