"""The refusals the API and the pages turn into HTTP answers (see api/app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from state_models.validators import mask_nirs
from temporal_client.dossiers import EventRefused

# Refusals of a dossier or market workflow that mean "not now" (409), with the details named.
_CONFLICTS: dict[str, tuple[str, ...]] = {
    "IllegalEvent": ("state", "allowed_events"),
    "MarketHasOpenDossiers": ("open_dossiers", "unsettled_dossiers"),
    "PlaceRefused": ("session_id",),
    # The person's data restricted by a data-subject request (GDPR art. 18).
    "ProcessingRestricted": ("reason",),
}
_UNKNOWN = ("UnknownDossier", "UnknownMarket")


@dataclass
class InvalidFields(Exception):
    """422: each error is (location, French reason), location like ("body", "person", "nir")."""

    errors: list[tuple[tuple[str, ...], str]]

    def __post_init__(self) -> None:
        # A reason may quote what was submitted: never a NIR in clear (answers, pages, logs).
        self.errors = [(loc, mask_nirs(reason)) for loc, reason in self.errors]


@dataclass
class Refused(Exception):
    """409, 502, 404 or 504, with a machine code and a French message."""

    status: int
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # AGORA's fault messages may quote the holder's NIR: masked wherever it is shown.
        self.message = mask_nirs(self.message)


def http_refusal(refused: EventRefused) -> Exception:
    """A workflow's refusal as an HTTP error: 422 bad data, 409 not now, 404 unknown,
    502 AGORA refused (with its fault code)."""
    details = refused.details
    if refused.kind == "InvalidEventData":
        return InvalidFields([(("body", str(details.get("field", "data"))),
                               str(details.get("reason", refused.message)))])
    if refused.kind in _CONFLICTS:
        # The workflows name the allowed events "allowed".
        named = {name: details.get("allowed" if name == "allowed_events" else name)
                 for name in _CONFLICTS[refused.kind]}
        return Refused(409, refused.kind, refused.message, named)
    if refused.kind in _UNKNOWN:
        return Refused(404, refused.kind, refused.message)
    if refused.kind == "AgoraBusinessFault":
        return Refused(502, str(details.get("code") or refused.kind),
                       str(details.get("message") or refused.message),
                       {"operation": details.get("operation")})
    return Refused(502, refused.kind, refused.message)
