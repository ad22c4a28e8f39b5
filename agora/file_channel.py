"""The secure file channel to AGORA (the SFE/CFT of Convention art. 7): HTTPS with mutual TLS.

Choice (issue 14): HTTPS upload and download authenticated by the Region's TLS client
certificate — the one the SOAP client presents (``AGORA_CLIENT_CERT``/``KEY``), its server
checked against the same CA bundle (``AGORA_CA_BUNDLE``) — rather than SFTP: it needs no new
dependency and reuses the PKI the convention already imposes. The protocol:

    PUT  <base>/depot/<name>      a request file, header X-Empreinte-SHA256 (its digest)
                                  201 received, 200 already received with the same digest,
                                  409 the name already holds another file, 422 digest wrong
    GET  <base>/depot/<name>      {"empreinte": …} of a file received, 404 if none
    GET  <base>/retrait/<name>    the answer to request <name>, 404 while there is none yet

File contents are personal data: nothing here logs them or quotes them in an error.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from agora.backfill_files import digest
from agora.client import tls_of
from settings import Settings

DIGEST_HEADER = "X-Empreinte-SHA256"


class ChannelError(Exception):
    """The channel refused or failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ChannelConfig:
    base_url: str
    # The server's certificate checked against: a CA bundle's path, True for the system's
    # store, False for nothing (refused in production at start-up).
    verify: bool | str
    # The client certificate and key presented (the server requires one).
    cert: tuple[str, str] | None
    timeout_seconds: float = 60.0


def channel_config(settings: Settings) -> ChannelConfig:
    """The channel at ``file_channel_url``, entered as the SOAP client enters AGORA."""
    verify, cert = tls_of(settings, url=settings.file_channel_url)
    return ChannelConfig(settings.file_channel_url, verify, cert)


def tls_context(config: ChannelConfig) -> ssl.SSLContext:
    """Server checked against the CA (and its host name), client certificate presented."""
    if config.verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(
            cafile=config.verify if isinstance(config.verify, str) else None)
    if config.cert is not None:
        context.load_cert_chain(*config.cert)
    return context


class FileChannel:
    def __init__(self, config: ChannelConfig) -> None:
        self._http = httpx.Client(base_url=config.base_url.rstrip("/"), verify=tls_context(config),
                                  timeout=config.timeout_seconds, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def deposited_digest(self, name: str) -> str | None:
        """The digest of the file the channel holds under ``name``, None if it holds none."""
        response = self._call("GET", f"/depot/{name}")
        if response.status_code == 404:
            return None
        self._raise_for(response, name)
        return str(response.json()["empreinte"])

    def deposit(self, name: str, data: bytes) -> bool:
        """Deposit ``data`` as ``name``: True if the channel received it now, False if it
        already held these very bytes (a retry after a lost answer)."""
        response = self._call("PUT", f"/depot/{name}", content=data,
                              headers={DIGEST_HEADER: digest(data),
                                       "Content-Type": "application/xml"})
        if response.status_code in (200, 201):
            return response.status_code == 201
        self._raise_for(response, name)
        return False  # unreachable: _raise_for raised

    def fetch_answer(self, name: str) -> bytes | None:
        """AGORA's answer to request file ``name``, None while it has not come."""
        response = self._call("GET", f"/retrait/{name}")
        if response.status_code == 404:
            return None
        self._raise_for(response, name)
        return response.content

    def _call(self, method: str, path: str, **options: object) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            raise ChannelError(f"Canal de fichiers injoignable ({type(error).__name__}).",
                               retryable=True) from None

    @staticmethod
    def _raise_for(response: httpx.Response, name: str) -> None:
        if response.is_success:
            return
        retryable = response.status_code >= 500 or response.status_code == 429
        raise ChannelError(f"Canal de fichiers : {name} refusé (HTTP {response.status_code}).",
                           retryable=retryable)
