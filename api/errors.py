"""The refusals the API and the pages turn into HTTP answers (see api/app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class InvalidFields(Exception):
    """422: each error is (location, French reason), location like ("body", "person", "nir")."""

    errors: list[tuple[tuple[str, ...], str]]


@dataclass
class Refused(Exception):
    """409, 502, 404 or 504, with a machine code and a French message."""

    status: int
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
