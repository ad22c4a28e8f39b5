"""The simulator's admin endpoints, as the benchmarks read them: what AGORA received
and applied, seen from AGORA's side so the figures hold across processes."""

from __future__ import annotations

from typing import Any

import httpx

from agora.simulator.config import ADMIN_TOKEN_HEADER, admin_token
from settings import Settings


class AgoraAdmin:
    def __init__(self, settings: Settings) -> None:
        base = f"http://{settings.simulator_host}:{settings.simulator_port}/admin"
        self._http = httpx.AsyncClient(base_url=base, timeout=30,
                                       headers={ADMIN_TOKEN_HEADER: admin_token(settings)})

    async def inject(self, kind: str, operation: str = "*", **options: Any) -> None:
        """``kind``: http503 | timeout | slow | soap_fault | timeout_after_apply."""
        response = await self._http.post("/faults", json={"kind": kind, "operation": operation,
                                                          **options})
        response.raise_for_status()

    async def clear_faults(self) -> None:
        (await self._http.delete("/faults")).raise_for_status()

    async def effects(self) -> list[dict[str, Any]]:
        return await self._get("/effects")

    async def requests(self) -> list[dict[str, Any]]:
        return await self._get("/requests")

    async def dossiers(self) -> list[dict[str, Any]]:
        return await self._get("/dossiers")

    async def calls_received(self) -> int:
        stats = await self._get("/stats")
        return sum(op["received"] for op in stats["operations"].values())

    async def _get(self, path: str) -> Any:
        response = await self._http.get(path)
        response.raise_for_status()
        return response.json()

    async def aclose(self) -> None:
        await self._http.aclose()
