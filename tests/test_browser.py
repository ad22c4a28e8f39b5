"""The French web UI driven by Playwright on Debian's chromium, over the real stack."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agora import operations
from tests import factories
from tests.fixtures_api import PASSWORD, ApiHandle

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("clean_simulator"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        await browser.close()


async def signed_in_page(browser, base_url: str, username: str, start: str):  # type: ignore[no-untyped-def]
    """A new browser context signed in as ``username`` through the sign-in form, at ``start``."""
    context = await browser.new_context(base_url=base_url, locale="fr-FR")
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.goto(start)
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"**{start}")
    return context, page


@pytest_asyncio.fixture
async def page(browser, api: ApiHandle):  # type: ignore[no-untyped-def]
    context, page = await signed_in_page(browser, api.base_url, "gestionnaire", "/dossiers")
    yield page
    await context.close()


async def _fill_new_dossier(page, nir: str | None = None) -> None:  # type: ignore[no-untyped-def]
    person, action = factories.person(), factories.action()
    values = {**dataclasses.asdict(person), **dataclasses.asdict(action)}
    if nir:
        values["nir"] = nir
    await page.goto("/dossiers/nouveau")
    for name in ("nir", "birth_name", "first_names", "birth_date", "email", "siret", "action_id", "title",
                 "duration_hours", "start_date", "end_date", "certification_code"):
        await page.fill(f"#f-{name}", str(values[name]))
    await page.select_option("#f-sex", person.sex)
    await page.get_by_role("button", name="Créer le dossier").click()


async def _apply(page, event: str, data: dict) -> None:  # type: ignore[no-untyped-def]
    await page.locator(f"summary[data-event='{event}']").click()
    for name, value in data.items():
        await page.fill(f"#f-{event}-{name}", value)
    await page.locator(f"form[action$='/evenements/{event}'] button[type=submit]").click()


async def test_sign_in_create_and_settle_through_the_buttons(page) -> None:  # type: ignore[no-untyped-def]
    await _fill_new_dossier(page)
    await page.wait_for_url(re.compile(r"/dossiers/D-[0-9A-F]+"))
    for event, data in factories.LIFECYCLE:
        await _apply(page, event, data)
        await page.wait_for_url(re.compile(rf"fait={event}$"))
        assert await page.locator("[role=alert]").count() == 0, await page.content()
    assert (await page.locator("#state").inner_text()) == "Soldé"
    steps = page.locator("#timeline li")
    assert await steps.count() == 1 + len(factories.LIFECYCLE)
    for index in range(await steps.count()):
        text = await steps.nth(index).inner_text()
        assert "Accusé de réception n°" in text, text
        assert (await steps.nth(index).locator(".ack").inner_text()).strip()
    # Only the allowed events have buttons: once settled, only a correction (not a lifecycle
    # event: AGORA accepts one on a settled dossier).
    buttons = page.locator("summary[data-event]")
    assert [await buttons.nth(i).get_attribute("data-event")
            for i in range(await buttons.count())] == ["reengineer"]


async def test_bad_nir_inline_and_agora_refusal_shown(page, faults) -> None:  # type: ignore[no-untyped-def]
    nir = factories.person().nir
    bad = nir[:13] + f"{(int(nir[13:]) % 97) + 1:02d}"
    await _fill_new_dossier(page, nir=bad)
    error = page.locator("#e-nir")
    assert (await error.inner_text()) == "clé NIR invalide"
    assert await page.get_attribute("#f-nir", "aria-invalid") == "true"
    assert "e-nir" in (await page.get_attribute("#f-nir", "aria-describedby") or "")

    await page.fill("#f-nir", nir)
    await page.get_by_role("button", name="Créer le dossier").click()
    await page.wait_for_url(re.compile(r"/dossiers/D-[0-9A-F]+"))
    faults.inject("soap_fault", operation="ValiderDossier", count=1,
                  fault_code=operations.FAULT_STATE, message="Statut incompatible")
    await _apply(page, "validate", {"validation_date": "2026-01-02"})
    alert = page.locator("#error")
    assert operations.FAULT_STATE in await alert.inner_text()
    assert "AGORA a refusé" in await alert.inner_text()
    assert (await page.locator("#state").inner_text()) == "Créé"
    last = page.locator("#timeline li").last
    assert "Refusé par AGORA" in await last.inner_text()
    assert operations.FAULT_STATE in await last.inner_text()
