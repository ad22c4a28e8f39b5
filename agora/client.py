"""The AGORA SOAP client, one per process.

Why synchronous zeep: the Temporal activities that call AGORA are sync
activities run in a ThreadPoolExecutor, so a blocking call costs a pool
thread, not the event loop. zeep on requests is the mature SOAP stack in
Python (zeep's async transport is thinner and less used); a requests Session
pools connections and is safe to share between threads for plain requests.
Parsing the WSDL/XSD takes far longer than a call (a call costs about 2 ms
of client CPU, DESIGN.md), so the parsed WSDL, the zeep client, the signing
key and the VI cache live once per process: :func:`get_client`.

The WSDL is the local file shipped in ``agora/wsdl`` (never fetched); only
the endpoint address comes from configuration, so the same client talks to
the simulator or to the real platform.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree
from requests.adapters import HTTPAdapter

from agora import messages, operations, tracing, wsse
from agora.errors import AgoraError, AgoraFault, AgoraUnavailable
from agora.identity_vector import IdentityVectorFactory
from agora.pki import ensure_dev_client_cert, load_signing_identity, region_pki
from agora.tracing import Exchange, ExchangeContext, TraceSink
from settings import Settings

WSDL_PATH = Path(__file__).parent / "wsdl" / "agora.wsdl"
BINDING = f"{{{operations.NAMESPACE}}}AgoraBinding"


class _Transport(zeep.Transport):
    """Turns "no usable answer" into AgoraUnavailable, keeping Retry-After.

    A SOAP 1.1 fault comes with HTTP 500 and is left to zeep; any other 5xx
    (or 429) is an outage, and zeep's own error would lose the headers.
    """

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        exchange = tracing.current_exchange.get()
        if exchange is not None:  # the envelope as it leaves, identity vector included
            exchange.request_envelope = message if isinstance(message, bytes) else message.encode()
            exchange.sent_at = tracing.now()
        try:
            response = super().post(address, message, headers)
        except requests.Timeout as exc:
            raise AgoraUnavailable(f"AGORA did not answer in time: {exc}", timed_out=True) from exc
        except requests.RequestException as exc:
            raise AgoraUnavailable(f"AGORA unreachable: {exc}") from exc
        finally:
            if exchange is not None:
                exchange.received_at = tracing.now()
        if exchange is not None:
            exchange.http_status = response.status_code
            exchange.response_envelope = response.content
        if response.status_code == 429 or response.status_code > 500:
            raise AgoraUnavailable(
                f"AGORA answered HTTP {response.status_code}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response


def build_session(settings: Settings) -> requests.Session:
    """The HTTP session for AGORA: keep-alive connections, pooled for every call in flight.

    The pool holds one connection per activity thread: with fewer, calls beyond the pool
    open a connection and drop it after use, so keep-alive is lost under load. requests
    reads the proxy variables and ~/.netrc again on every call when ``trust_env`` is on
    (a scan of the environment, about 0.25 ms of CPU per call here): they are read once,
    for AGORA's address, when the session is built (AGORA authenticates the VI, so no
    ~/.netrc credentials are wanted).
    """
    session = requests.Session()
    environment = session.merge_environment_settings(settings.agora_url, {}, None, None, None)
    session.trust_env = False
    session.proxies = environment["proxies"]
    session.verify, session.cert = tls_of(settings, environment["verify"])
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=settings.worker_activity_threads)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def tls_of(settings: Settings, default_verify: bool | str = True, url: str | None = None
           ) -> tuple[bool | str, tuple[str, str] | None]:
    """What a connection to AGORA at ``url`` (default: the SOAP endpoint; the secure file
    channel too) checks the server's certificate against (False: nothing, a CA bundle's path,
    or True for the system's store, or ``default_verify`` from REQUESTS_CA_BUNDLE), and the
    client certificate it presents. In development, unless configured, the dev CA and its
    client leaf (created if missing)."""
    verify: bool | str = default_verify
    cert = ((settings.agora_client_cert, settings.agora_client_key)
            if settings.agora_client_cert and settings.agora_client_key else None)
    if settings.development and (url or settings.agora_url).startswith("https://") and not (
            settings.agora_ca_bundle and cert):
        dev = ensure_dev_client_cert(settings.pki_dir, settings.application_id)
        verify = str(dev.ca_cert)
        cert = cert or (str(dev.client_cert), str(dev.client_key))
    if settings.agora_ca_bundle:
        verify = settings.agora_ca_bundle
    if not settings.agora_tls_verify:
        verify = False
    return verify, cert


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class AgoraClient:
    """Thread-safe: share one instance (see :func:`get_client`).

    ``vector_factory`` can be given (tests, or a factory sharing an audit
    callback); by default the signing identity is loaded from
    ``settings.pki_dir`` — created there as a dev PKI if missing, while a
    production deployment puts its PKI-issued leaf in the same files.

    ``traces`` receives every exchange (each attempt, whatever its outcome) and every
    vector the default factory signs; a sink that fails makes the call fail.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        vector_factory: IdentityVectorFactory | None = None,
        session: requests.Session | None = None,
        traces: TraceSink | None = None,
    ) -> None:
        if settings.vi_mode not in ("sign", "gateway"):
            raise ValueError(f"vi_mode must be 'sign' or 'gateway', not {settings.vi_mode!r}")
        self.settings = settings
        self.traces = traces
        plugins = []
        if settings.vi_mode == "sign":
            if vector_factory is None:
                archive = (lambda v: traces.archive_vector(tracing.vector_facts(v))) if traces else None
                vector_factory = IdentityVectorFactory(settings,
                                                       load_signing_identity(region_pki(settings)),
                                                       on_signed=archive)
            plugins.append(wsse.IdentityVectorPlugin(vector_factory))
        # In gateway mode the GIP-MDS gateway adds and signs the VI: plain SOAP from here.
        self.vector_factory = vector_factory if settings.vi_mode == "sign" else None
        if session is None:
            session = build_session(settings)
        transport = _Transport(session=session, operation_timeout=settings.agora_timeout_seconds)
        self._zeep = zeep.Client(str(WSDL_PATH), transport=transport, plugins=plugins)
        self._service = self._zeep.create_service(BINDING, settings.agora_url)
        self._answer_fields = {
            op.soap_name: [
                name
                for name, _ in self._zeep.get_element(
                    f"{{{operations.NAMESPACE}}}{op.soap_name}Reponse"
                ).type.elements
            ]
            for op in operations.OPERATIONS
        }

    def send(self, request: messages.Request, acting_user: str | None = None,
             context: ExchangeContext | None = None,
             pagm: tuple[str, ...] | None = None) -> messages.AgoraAck:
        """A write (or the NIR/name check): AGORA's acknowledgement. ``pagm``: the acting
        user's own profiles for the identity vector (None: the application's)."""
        operation = operations.BY_SOAP_NAME[request.operation]
        is_nir_check = operation.soap_name == messages.CheckNirName.operation
        if not (operation.writes or is_nir_check):
            raise ValueError(f"{operation.soap_name} is a read: use read()")
        answer = self._call(operation.soap_name, request.to_agora(), acting_user,
                            getattr(request, "request_id", None), context, pagm)
        return messages.AgoraAck(
            agora_dossier_id=answer.get("agora_dossier_id") or "",
            status=answer.get("status") or "",
            ack_id=answer.get("ack_id") or "",
            replay=bool(answer.get("replay")),
            message=answer.get("message") or "",
        )

    def read(
        self, operation: str, fields: dict[str, Any], acting_user: str | None = None,
        context: ExchangeContext | None = None, pagm: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        """A read operation, English field names in and out (dates and amounts as text)."""
        if operations.BY_SOAP_NAME[operation].writes:
            raise ValueError(f"{operation} is a write: use send()")
        return self._call(operation, messages.to_french(fields), acting_user,
                          fields.get("request_id"), context, pagm)

    def _call(
        self, operation: str, french_fields: dict[str, Any], acting_user: str | None,
        request_id: str | None = None, context: ExchangeContext | None = None,
        pagm: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        exchange = Exchange(operation, acting_user, request_id, context or ExchangeContext())
        token = wsse.acting_user.set(acting_user)
        pagm_token = wsse.acting_pagm.set(pagm)
        vector_token = wsse.sent_vector_id.set(None)
        exchange_token = tracing.current_exchange.set(exchange)
        try:
            result = getattr(self._service, operation)(**french_fields)
        except zeep.exceptions.Fault as exc:
            fault = AgoraFault(exc.code or operations.FAULT_SERVER, exc.message or "")
            self._record(exchange, tracing.FAULT, fault.code, fault.message)
            raise fault from exc
        except zeep.exceptions.TransportError as exc:
            if exc.status_code >= 500:  # a 500 that is not a SOAP fault
                self._record(exchange, tracing.UNAVAILABLE, message=f"HTTP {exc.status_code}")
                raise AgoraUnavailable(f"AGORA answered HTTP {exc.status_code}") from exc
            self._record(exchange, tracing.ERROR, message=f"HTTP {exc.status_code}")
            raise AgoraError(f"AGORA answered HTTP {exc.status_code}: {exc.message}") from exc
        except AgoraUnavailable as exc:
            self._record(exchange, tracing.UNAVAILABLE, message=str(exc))
            raise
        except (zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
            self._record(exchange, tracing.ERROR, message=str(exc))
            raise AgoraError(f"unexpected answer from AGORA to {operation}: {exc}") from exc
        finally:
            tracing.current_exchange.reset(exchange_token)
            exchange.vector_id = wsse.sent_vector_id.get()
            wsse.sent_vector_id.reset(vector_token)
            wsse.acting_pagm.reset(pagm_token)
            wsse.acting_user.reset(token)
        self._record(exchange, tracing.ACKNOWLEDGED)
        answer = zeep.helpers.serialize_object(result, dict)
        fields = self._answer_fields[operation]
        if len(fields) == 1:  # zeep unwraps an answer of a single element
            answer = {fields[0]: answer}
        return messages.to_english(_plain(answer))

    def _record(self, exchange: Exchange, outcome: str, fault_code: str = "",
                message: str = "") -> None:
        if self.traces is None:
            return
        exchange.vector_id = exchange.vector_id or wsse.sent_vector_id.get()
        exchange.outcome, exchange.fault_code, exchange.message = outcome, fault_code, message
        if not exchange.sent_at:  # failed before anything left (e.g. the vector not archived)
            exchange.sent_at = exchange.received_at = tracing.now()
        self.traces.record_exchange(exchange)


def _plain(value: Any) -> Any:
    """JSON-friendly values: dates and decimals as text, as in messages.py."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


_clients_lock = threading.Lock()


@functools.cache
def _cached_client(settings: Settings, traces: TraceSink | None) -> AgoraClient:
    return AgoraClient(settings, traces=traces)


def get_client(settings: Settings, traces: TraceSink | None = None) -> AgoraClient:
    """The process's client for these settings and trace sink (built once: WSDL parsing,
    key loading)."""
    # The lock makes concurrent first calls build one client, not one each.
    with _clients_lock:
        return _cached_client(settings, traces)
