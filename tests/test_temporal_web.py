"""The real Temporal Web, started as ``make dev`` starts it (``devstack.temporal_server_command``,
so with ``--ui-codec-endpoint`` set to the product's codec), driven by Playwright on Debian's
chromium to a dossier's workflow: its input and update arguments are sealed bytes until the
browser is signed in to the product, then readable with the NIR and identity masked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from temporalio.client import Client

import devstack
import temporal_client
import worker as agora_worker
from api.app import create_app
from contracts.dossier import workflow_id_for
from settings import Settings
from state_models.validators import mask_nir
from store.db import Database
from tests.api_helpers import create_payload, registered
from tests.conftest import FAST_RETRY
from tests.fixtures_api import PASSWORD, ApiHandle, seed_users
from tests.test_browser import CHROMIUM, browser  # noqa: F401  (browser: the fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]

# Bounded waits: each step of the browser waits at most this long for what it needs.
STEP_TIMEOUT_MS = 20_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the Temporal dev server exited (code {process.returncode})"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s"
            time.sleep(0.1)


@dataclasses.dataclass
class WebSettings:
    settings: Settings
    api_socket: socket.socket  # bound: handed to uvicorn, so no one takes the API's port meanwhile
    ui_url: str  # Temporal Web's origin


@pytest.fixture(scope="module")
def web_settings(agora_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSettings]:
    """The stack's settings on free ports. The API's port is chosen first: Temporal Web's
    codec flag names it before the API can start (the API needs Temporal)."""
    api_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    api_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    api_socket.bind(("127.0.0.1", 0))
    grpc_port, ui_port = free_port(), free_port()
    ui_url = f"http://127.0.0.1:{ui_port}"
    task_queue = f"web-{uuid.uuid4().hex[:12]}"
    settings = dataclasses.replace(
        agora_settings, temporal_address=f"127.0.0.1:{grpc_port}", temporal_ui_port=ui_port,
        public_url=f"http://127.0.0.1:{api_socket.getsockname()[1]}",
        codec_cors_origins=(ui_url,),  # Temporal Web's origin alone
        task_queue=task_queue, link_workflow_id=f"agora-link-{task_queue}",
        database_url=f"sqlite:///{tmp_path_factory.mktemp('web') / 'api.sqlite3'}")
    yield WebSettings(settings, api_socket, ui_url)
    api_socket.close()


@pytest.fixture(scope="module")
def temporal_web(web_settings: WebSettings) -> Iterator[None]:
    """A Temporal dev server with its Web UI, started with the very command `make dev` uses."""
    settings = web_settings.settings
    command = devstack.temporal_server_command(settings, None)
    assert command[command.index("--ui-codec-endpoint") + 1] == f"{settings.public_url}/codec"
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(int(settings.temporal_address.rsplit(":", 1)[1]), server)
        wait_until_listening(settings.temporal_ui_port, server)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclasses.dataclass
class WebStack:
    api: ApiHandle
    client: Client
    ui_url: str  # Temporal Web's origin


@pytest_asyncio.fixture(scope="module")
async def stack(web_settings: WebSettings, temporal_web: None) -> AsyncIterator[WebStack]:
    """The product's API (the codec endpoint) and a worker, on that Temporal server."""
    settings = web_settings.settings
    client = await temporal_client.connect(settings)

    async def connect() -> Client:
        return await temporal_client.connect(settings)  # a client of the API thread's own loop

    app = create_app(settings, connect, retry=FAST_RETRY)
    database: Database = app.state.context.db
    seed_users(database)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [web_settings.api_socket]},
                              daemon=True, name="api")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
            await asyncio.sleep(0.01)
        async with agora_worker.build_worker(client, settings, task_queue=settings.task_queue):
            yield WebStack(ApiHandle(settings.public_url, settings, database), client, web_settings.ui_url)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 5)
        database.dispose()


# Every code block's text as an operator reads it, scrolling through it: Temporal Web shows
# payloads in CodeMirror editors, which render only the lines in view.
READ_CODE_BLOCKS = """async (root) => {
  const frame = () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const scrollable = (element) => {
    for (let node = element; node && node !== document.body; node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowY;
      if (node.scrollHeight > node.clientHeight + 1 && (overflow === 'auto' || overflow === 'scroll')) {
        return node;
      }
    }
    return document.scrollingElement;
  };
  const texts = [];
  for (const content of root.querySelectorAll('.cm-content')) {
    const scroller = scrollable(content);
    // CodeMirror renders only what meets the window: the editor is brought into view first.
    scroller.scrollIntoView({block: 'start'});
    const step = Math.max(scroller.clientHeight / 2, 40);
    for (let top = 0; ; top += step) {
      scroller.scrollTop = top;
      await frame();
      texts.push(content.innerText);
      if (top >= scroller.scrollHeight - scroller.clientHeight) break;
    }
    scroller.scrollTop = 0;
  }
  return texts.join('\\n');
}"""


@dataclasses.dataclass
class Dossier:
    dossier_id: str
    person: dict[str, str]
    title: str  # the training action's
    update_event_id: int  # the history event that accepted the 'validate' update


async def dossier_with_an_event(stack: WebStack) -> Dossier:
    """A dossier created through the API by a manager, then validated (an update with arguments)."""
    payload = create_payload()
    async with stack.api.client("gestionnaire") as http:
        created = await http.post("/api/dossiers", json=payload)
        assert created.status_code == 201, created.text
        dossier_id = created.json()["dossier_id"]
        await registered(http, dossier_id)
        validated = await http.post(f"/api/dossiers/{dossier_id}/events/validate",
                                    json={"validation_date": "2026-01-02"})
        assert validated.status_code == 200, validated.text
    history = await stack.client.get_workflow_handle(workflow_id_for(dossier_id)).fetch_history()
    [update_event_id] = [event.event_id for event in history.events
                         if event.HasField("workflow_execution_update_accepted_event_attributes")
                         and event.workflow_execution_update_accepted_event_attributes
                         .accepted_request.input.name == "apply_event"]
    return Dossier(dossier_id, payload["person"], payload["action"]["title"], update_event_id)


IDENTITY_FIELDS = ("nir", "birth_name", "first_names", "birth_date", "email")


def found(text: str, values: dict[str, str]) -> list[str]:
    """The names of the values present in ``text``: assertions name fields, so a failure
    never prints a person's data."""
    return [name for name, value in values.items() if value in text]


async def open_with_codec(page: Any, url: str, decode_url: str) -> int:
    """Opens a Temporal Web page; the status of the codec's first decode answer for it."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        async with page.expect_response(
                lambda r: r.url.startswith(decode_url) and r.request.method == "POST",
                timeout=STEP_TIMEOUT_MS) as answer:
            await page.goto(url)
    except PlaywrightTimeout:
        raise AssertionError("no decode request of Temporal Web reached the codec (a CORS preflight "
                             "refused?)") from None
    return (await answer.value).status


async def test_temporal_web_shows_a_dossier_decoded_and_masked_only_once_signed_in(
        stack: WebStack, browser: Any) -> None:  # noqa: F811  (the fixture)
    from playwright.async_api import expect

    dossier = await dossier_with_an_event(stack)
    namespace, codec = stack.api.settings.temporal_namespace, f"{stack.api.base_url}/codec"
    # What an operator must read once signed in, and what never in clear (no nir:unmask).
    readable = {"dossier_id": dossier.dossier_id, "title": dossier.title,
                "masked_nir": mask_nir(dossier.person["nir"])}
    identity = {field: dossier.person[field] for field in IDENTITY_FIELDS}
    update_sealed = {"update name": "apply_event", "sealed payload": "encryption-key-id"}
    update_readable = {"event": '"validate"', "its date": '"validation_date": "2026-01-02"',
                       "who asked": '"acting_user": "gestionnaire"',  # the arguments
                       "new state": '"state": "validated"',  # the update's result: the dossier's view
                       "dossier_id": dossier.dossier_id}
    workflow_url = f"{stack.ui_url}/namespaces/{namespace}/workflows/{workflow_id_for(dossier.dossier_id)}"
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        await page.goto(workflow_url)  # redirected to the run's page
        await page.wait_for_url(f"{workflow_url}/**")
        run_url = page.url.rsplit("/", 1)[0]
        update_url = f"{run_url}/history/events/{dossier.update_event_id}"

        # The operator's codec settings: the endpoint `make dev` gave Temporal Web, called with
        # the browser's cookies (Temporal Web offers that only for an endpoint of the browser).
        await page.locator("[data-testid^=data-encoder-status]").click()
        dialog = page.locator("#data-encoder-settings")
        await expect(dialog.locator("#use-configuration-endpoint-radio-description")).to_have_text(codec)
        await dialog.get_by_test_id("use-local-endpoint-input").check()
        await dialog.get_by_test_id("data-encoder-endpoint-input").fill(codec)
        await dialog.get_by_test_id("data-encoder-include-credentials").click()
        await expect(dialog.locator("#pass-access-credentials")).to_be_checked()
        await dialog.get_by_test_id("confirm-modal-button").click()

        # Not signed in to the product: the codec refuses, Temporal Web shows sealed bytes.
        inputs = page.get_by_test_id("input-and-result")
        assert await open_with_codec(page, workflow_url, f"{codec}/decode") == 401
        await expect(page.get_by_test_id("data-encoder-status-error")).to_be_visible()
        await expect(inputs.locator(".cm-content").first).not_to_be_empty()
        sealed = await inputs.evaluate(READ_CODE_BLOCKS)
        assert found(sealed, readable) == [] and found(sealed, identity) == []
        assert await open_with_codec(page, update_url, f"{codec}/decode") == 401
        await expect(page.get_by_text("apply_event").first).to_be_visible()
        sealed = await page.locator("main").evaluate(READ_CODE_BLOCKS)
        assert found(sealed, update_sealed) == list(update_sealed)  # the update is there, sealed
        assert found(sealed, update_readable) == [] and found(sealed, identity) == []

        # Signed in to the product as an operator (who may not unmask NIRs), in the same browser.
        signin = await context.new_page()
        signin.set_default_timeout(STEP_TIMEOUT_MS)
        await signin.goto(f"{stack.api.base_url}/connexion")
        await signin.get_by_label("Identifiant").fill("operateur")
        await signin.get_by_label("Mot de passe").fill(PASSWORD)
        await signin.get_by_role("button", name="Se connecter").click()
        await signin.wait_for_url(lambda url: "/connexion" not in url)
        await signin.close()

        # The workflow's input: readable, the NIR masked, the identity hidden.
        assert await open_with_codec(page, workflow_url, f"{codec}/decode") == 200
        await expect(inputs.locator(".cm-content").first).to_contain_text(dossier.title)
        shown = await inputs.evaluate(READ_CODE_BLOCKS)
        assert found(shown, readable) == list(readable)  # the NIR masked, read in the person's part
        assert found(shown, identity) == [], "identity shown in clear to an operator"

        # The update's arguments and its result: readable too.
        assert await open_with_codec(page, update_url, f"{codec}/decode") == 200
        update = page.locator(".cm-content", has_text="apply_event")
        await expect(update).to_contain_text("validation_date")
        shown = await page.locator("main").evaluate(READ_CODE_BLOCKS)
        assert found(shown, update_readable) == list(update_readable)
        assert found(shown, update_sealed) == ["update name"] and found(shown, identity) == []
    finally:
        await context.close()
