"""Authorisation profiles (PAGM, SPEC §3) of the Region's users, as pure rules.

Each user holds roles; for each role an administrator configures the PAGM profiles the
user carries to AGORA ("RIGHT;PARTNER", e.g. ``AGORA_LECTURE;REGION-CORSE``). A read-only
role may only carry profiles without a write right, so a vector signed for someone who
may only read never lets AGORA accept a write. The identity vector of a call carries the
profiles of all the acting user's roles.

A change of roles or profiles is compared with what the user held before and becomes one
history entry per role granted, revoked or re-profiled (who and why are the caller's).
No I/O: the rights and the roles that write come from the caller (contracts/authorisations.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

GRANTED = "role_granted"
REVOKED = "role_revoked"
CHANGED = "pagm_changed"

# A profile is a right and the partner it is held for, separated by ";" (the simulator and
# AGORA read the right before the first ";").
_PROFILE = re.compile(r"[A-Z][A-Z0-9_]*;[A-Z0-9][A-Z0-9_.-]*")
MAX_PROFILES = 10


class ProfileRefused(ValueError):
    """A role's profiles refused; ``str(error)`` is the French reason, ``role`` the role."""

    def __init__(self, role: str, reason: str) -> None:
        self.role = role
        super().__init__(reason)


@dataclass(frozen=True)
class AuthorisationChange:
    action: str  # GRANTED, REVOKED or CHANGED
    role: str
    before: tuple[str, ...]  # the role's profiles before (empty when granted)
    after: tuple[str, ...]  # and after (empty when revoked)


def right_of(profile: str) -> str:
    return profile.split(";", 1)[0]


def normalise_profiles(role: str, profiles: Iterable[str]) -> tuple[str, ...]:
    """The role's profiles stripped, upper-cased and without duplicates, in the order given;
    refuses a malformed one, none at all, or too many."""
    seen: dict[str, None] = {}
    for raw in profiles:
        profile = raw.strip().upper()
        if not profile:
            continue
        if not _PROFILE.fullmatch(profile):
            raise ProfileRefused(role, f"profil PAGM « {raw.strip()} » mal formé "
                                       "(attendu : DROIT;PARTENAIRE, ex. AGORA_LECTURE;REGION-CORSE)")
        seen[profile] = None
    if not seen:
        raise ProfileRefused(role, "au moins un profil PAGM est requis pour ce rôle")
    if len(seen) > MAX_PROFILES:
        raise ProfileRefused(role, f"au plus {MAX_PROFILES} profils PAGM par rôle")
    return tuple(seen)


def check_profiles(role: str, profiles: tuple[str, ...], *, read_only: bool,
                   known_rights: Collection[str], write_rights: Collection[str]) -> None:
    """Refuse a right AGORA does not know, and a write right on a read-only role."""
    for profile in profiles:
        right = right_of(profile)
        if right not in known_rights:
            raise ProfileRefused(role, f"droit PAGM inconnu : {right} "
                                       f"(connus : {', '.join(sorted(known_rights))})")
        if read_only and right in write_rights:
            raise ProfileRefused(role, f"ce rôle est en lecture seule : le profil {profile} "
                                       "permettrait d'écrire dans AGORA")


def default_profiles(read_only: bool, partner: str, read_right: str,
                     write_right: str) -> tuple[str, ...]:
    """What a role carries until an administrator configures otherwise."""
    return (f"{read_right if read_only else write_right};{partner}",)


def plan_changes(before: Mapping[str, tuple[str, ...]],
                 after: Mapping[str, tuple[str, ...]]) -> list[AuthorisationChange]:
    """One entry per role granted, revoked or whose profiles changed, by role."""
    changes = []
    for role in sorted(set(before) | set(after)):
        old, new = before.get(role), after.get(role)
        if old is None and new is not None:
            changes.append(AuthorisationChange(GRANTED, role, (), new))
        elif new is None and old is not None:
            changes.append(AuthorisationChange(REVOKED, role, old, ()))
        elif old is not None and new is not None and old != new:
            changes.append(AuthorisationChange(CHANGED, role, old, new))
    return changes


def vector_profiles(assignments: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The profiles an identity vector carries for a user: those of each of their roles,
    once each, by role then as configured (so the same holdings sign the same vector)."""
    seen: dict[str, None] = {}
    for role in sorted(assignments):
        for profile in assignments[role]:
            seen[profile] = None
    return tuple(seen)
