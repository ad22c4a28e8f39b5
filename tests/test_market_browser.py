"""A market walked through its lifecycle in the French UI (Playwright, Debian's chromium)."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
import pytest_asyncio

from tests.api_helpers import create_payload
from tests.fixtures_api import ApiHandle
from tests.test_browser import CHROMIUM, browser, signed_in_page  # noqa: F401  (browser: the fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("clean_simulator"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest_asyncio.fixture
async def page(browser, api: ApiHandle):  # type: ignore[no-untyped-def]  # noqa: F811
    context, page = await signed_in_page(browser, api.base_url, "marches", "/marches")
    yield page
    await context.close()


async def _apply(page, event: str, data: dict, selects: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    await page.locator(f"summary[data-event='{event}']").click()
    for name, value in data.items():
        await page.fill(f"#f-{event}-{name}", value)
    for name, value in (selects or {}).items():
        await page.select_option(f"#f-{event}-{name}", value)
    await page.locator(f"form[action$='/evenements/{event}'] button[type=submit]").click()


async def _done(page, event: str) -> None:  # type: ignore[no-untyped-def]
    await page.wait_for_url(re.compile(rf"fait={event}$"))
    assert await page.locator("[role=alert]").count() == 0, await page.content()


async def _count_shown(page, state: str, count: int) -> None:  # type: ignore[no-untyped-def]
    """Reload until the market shows ``count`` dossiers in ``state`` (dossiers report by signal)."""
    for _ in range(50):
        if f": {count}" in await page.locator(f"#dossier-counts a[data-state={state}]").inner_text():
            return
        await asyncio.sleep(0.1)
        await page.reload()
    raise AssertionError(await page.locator("#dossier-counts").inner_text())


async def test_a_market_from_registration_to_settlement_in_the_ui(page, api: ApiHandle) -> None:  # type: ignore[no-untyped-def]
    await page.get_by_role("link", name="Nouveau marché").click()
    values = {"reference": f"MP-UI-{uuid.uuid4().hex[:8]}", "lot_number": "1",
              "lot_title": "Cuisine", "siret": "73282932000075", "amount_excl_tax": "1000",
              "amount_incl_tax": "1200", "session_id_1": "S1", "places_1": "1",
              "start_date_1": "2026-01-05", "end_date_1": "2026-03-31"}
    for name, value in values.items():
        await page.fill(f"#f-{name}", value)
    await page.get_by_role("button", name="Enregistrer le marché").click()
    # Inline validation: the field is marked and the reason shown next to it.
    assert "SIRET" in await page.locator("#e-siret").inner_text()
    assert await page.get_attribute("#f-siret", "aria-invalid") == "true"
    await page.fill("#f-siret", "73282932000074")
    await page.get_by_role("button", name="Enregistrer le marché").click()
    await page.wait_for_url(re.compile(r"/marches/M-[0-9A-F]+\?fait=create$"))
    market_id = re.search(r"/marches/(M-[0-9A-F]+)", page.url).group(1)  # type: ignore[union-attr]
    assert await page.locator("#state").inner_text() == "Enregistré"

    await _apply(page, "validate", {"notification_date": "2025-12-15"})
    await _done(page, "validate")
    await _apply(page, "enter", {"start_date": "2026-01-05"})
    await _done(page, "enter")
    await _apply(page, "pay", {"payment_date": "2026-01-10", "amount": "1000"}, {"kind": "advance"})
    await _done(page, "pay")
    await _apply(page, "pay", {"payment_date": "2026-02-10", "amount": "300"}, {"kind": "instalment"})
    assert "avenant" in await page.locator("#e-pay-amount").inner_text()
    await _apply(page, "amend", {"amendment_date": "2026-02-01", "reason": "heures en plus",
                                 "amount_incl_tax": "1500"})
    await _done(page, "amend")
    await _apply(page, "pay", {"payment_date": "2026-02-10", "amount": "300"}, {"kind": "instalment"})
    await _done(page, "pay")
    assert await page.locator("#paid").inner_text() == "1300.00 €"
    assert await page.locator("#payments li").count() == 2
    assert "1200.00 → 1500.00" in await page.locator("#amendments").inner_text()

    # A dossier of the market's session: counted on the page, linked to the filtered list.
    async with api.client("gestionnaire") as dossiers:
        created = await dossiers.post("/api/dossiers", json={
            **create_payload(), "market_id": market_id, "session_id": "S1"})
        assert created.status_code == 201, created.text
        dossier_id = created.json()["dossier_id"]
        await _count_shown(page, "created", 1)
        assert "1 / 1" in await page.locator("#sessions").inner_text()

        await _apply(page, "exit", {"end_date": "2026-03-31"})
        await _done(page, "exit")
        await _apply(page, "settle", {"settlement_date": "2026-04-15"})
        assert dossier_id in await page.locator("#error").inner_text()
        assert await page.locator("#state").inner_text() == "Exécution terminée"

        await page.locator("#dossier-counts a[data-state=created]").click()
        await page.wait_for_url(re.compile(rf"/dossiers\?market={market_id}&state=created$"))
        assert await page.locator(f"a[href='/dossiers/{dossier_id}']").count() == 1

        cancelled = await dossiers.post(f"/api/dossiers/{dossier_id}/events/cancel",
                                        json={"reason": "désistement"})
        assert cancelled.status_code == 200, cancelled.text
    await page.goto(f"/marches/{market_id}")
    await _count_shown(page, "cancelled", 1)
    await _apply(page, "settle", {"settlement_date": "2026-04-15"})
    await _done(page, "settle")
    assert await page.locator("#state").inner_text() == "Soldé"
    settlement = page.locator("#timeline li").last
    assert "SolderAction" in await settlement.inner_text()
    assert (await settlement.locator(".ack").inner_text()).strip()
    assert await page.locator("summary[data-event]").count() == 0
