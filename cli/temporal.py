"""Running one command's calls on the product's Temporal client, for the operators' CLIs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from settings import Settings


def run_with_client(settings: Settings, call: Callable[[Any], Awaitable[Any]],
                    refusals: tuple[type[Exception], ...], prefix: str) -> Any:
    """``call(client)``; Temporal out of reach, or a refusal (any of ``refusals``, which
    carry a French ``message``), ends the command with a French message instead of a trace."""
    import temporal_client  # the SDK only for the commands that talk to Temporal

    async def go() -> Any:
        try:
            client = await temporal_client.connect(settings)
        except RuntimeError as down:
            raise SystemExit(f"Temporal injoignable ({settings.temporal_address}) : {down}") from None
        try:
            return await call(client)
        except refusals as refused:
            raise SystemExit(f"{prefix}{getattr(refused, 'message', refused)}") from None

    return asyncio.run(go())
