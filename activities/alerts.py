"""Alerts over every configured channel other than email: each a webhook (a chat room's
incoming hook, an SMS gateway) taking ``{"text": …, "ticket": …, "to": [phone, …]}`` as
JSON (``to``: the people to text, for a gateway; a chat room reads the text).

Idempotent per channel: the channels already reached are kept in the activity's
heartbeat details, so a retry posts only to those that failed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from temporalio import activity

from contracts.alerts import POST_ALERT, ChannelAlert
from settings import Settings


def channel_name(url: str) -> str:
    """How a channel is shown: its scheme and host, never its path (hooks carry tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class AlertActivities:
    def __init__(self, settings: Settings, urls: tuple[str, ...] | None = None) -> None:
        self._urls = settings.alert_webhook_urls if urls is None else urls
        self._timeout = settings.smtp_timeout_seconds

    @activity.defn(name=POST_ALERT)
    def post_alert(self, alert: ChannelAlert) -> list[str]:
        """Post to every channel; the names of those reached. Raises (to be retried) while
        one still fails, once the others are done."""
        details = activity.info().heartbeat_details
        reached: list[str] = list(details[0]) if details else []
        failures: list[str] = []
        for url in self._urls:
            if url in reached:
                continue
            try:
                response = httpx.post(url, json={"text": alert.text, "ticket": alert.ticket,
                                            "to": alert.to},
                                      headers={"Idempotency-Key": alert.idempotency_key},
                                      timeout=self._timeout)
                response.raise_for_status()
            except httpx.HTTPError as error:
                failures.append(f"{channel_name(url)}: {type(error).__name__}")
                continue
            reached.append(url)
            activity.heartbeat(reached)
        if failures:
            raise RuntimeError(f"alert channels unreachable: {', '.join(failures)}")
        return [channel_name(url) for url in reached]

    def all(self) -> list:
        return [self.post_alert]
