"""What can go wrong when calling AGORA, in two kinds the callers treat differently.

- :class:`AgoraFault`: AGORA answered with a SOAP fault (a business refusal or
  an identity-vector refusal). Retrying the same request blindly gives the
  same answer: the caller must fix something first.
- :class:`AgoraUnavailable`: no usable answer (HTTP 5xx other than a SOAP
  fault, 503 with Retry-After, timeout, connection refused). Retryable; a
  write may or may not have been applied, which AGORA's replay detection
  (same ``idRequete``) makes safe to retry.

Both keep their constructor arguments in ``args`` so they pickle (Temporal
and process pools re-raise them elsewhere).
"""

from __future__ import annotations

from agora import operations


class AgoraError(Exception):
    """Base of every AGORA call failure."""


class AgoraFault(AgoraError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    @property
    def is_security_fault(self) -> bool:
        """A refusal of the identity vector (certificate, PAGM, …) rather than of the data."""
        return self.code in operations.SECURITY_FAULTS

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class AgoraUnavailable(AgoraError):
    """``timed_out``: AGORA did not answer within the client's timeout (counted apart from
    other transport failures in the metrics)."""

    def __init__(self, message: str, retry_after: float | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(message, retry_after, timed_out)
        self.message = message
        self.retry_after = retry_after
        self.timed_out = timed_out

    def __str__(self) -> str:
        if self.retry_after is None:
            return self.message
        return f"{self.message} (retry after {self.retry_after:g} s)"
