"""The authorisation profiles (PAGM) the product knows, shared by the store, the API and
the tests: AGORA's rights (from each operation's own right, agora/operations.py), the right
a read-only profile and a writing profile carry by default, and the roles whose actions are
written to AGORA. Every other role is read-only: its profiles may not hold a write right.
"""


from agora.operations import OPERATIONS
from state_models.authorisations import check_profiles, default_profiles, normalise_profiles

WRITE_RIGHTS: frozenset[str] = frozenset(op.pagm_right for op in OPERATIONS if op.writes)
KNOWN_RIGHTS: frozenset[str] = frozenset(op.pagm_right for op in OPERATIONS)
READ_RIGHT = "AGORA_LECTURE"
WRITE_RIGHT = "AGORA_FINANCEUR"

# The roles whose permissions write dossiers or markets (api/auth.py: dossiers:write,
# markets:write), hence AGORA; tests/test_authorisations.py keeps the two lists in step.
# Not the DPO's team: a rectification reaches AGORA as the product's own call (the
# application's profiles), the DPO recorded as who asked.
AGORA_WRITER_ROLES: frozenset[str] = frozenset({"dossier_manager", "market_manager"})


def is_read_only(role: str) -> bool:
    return role not in AGORA_WRITER_ROLES


def role_defaults(role: str, partner: str) -> tuple[str, ...]:
    return default_profiles(is_read_only(role), partner, READ_RIGHT, WRITE_RIGHT)


def valid_profiles(role: str, profiles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The role's profiles normalised, or :class:`ProfileRefused` saying why (French)."""
    normalised = normalise_profiles(role, profiles)
    check_profiles(role, normalised, read_only=is_read_only(role), known_rights=KNOWN_RIGHTS,
                   write_rights=WRITE_RIGHTS)
    return normalised
