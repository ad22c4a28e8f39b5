"""The custom search attributes of agora-flow, declared once.

Operators filter workflows in Temporal Web by these. They are NOT encrypted:
never put a NIR, a name or any personal data in one. The dev server, the test
server and a cluster (temporal-dev/) register exactly this list.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

DOSSIER_ID = SearchAttributeKey.for_keyword("DossierId")
DOSSIER_STATE = SearchAttributeKey.for_keyword("DossierState")

ALL: tuple[SearchAttributeKey, ...] = (DOSSIER_ID, DOSSIER_STATE)


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_').title().replace('_', '')}"]
    return flags
