"""The custom search attributes of agora-flow, declared once.

Operators filter workflows in Temporal Web by these. The rule for search attributes
and memos: the payload codec seals every payload, but the server must read search
attributes to index them, so they stay in clear — they carry only ids and states the
Region chose (dossier id, lifecycle state), never a NIR, a name, a birth date, an
e-mail, a phone number, nor anything derived from them (a hash of a NIR can be
reversed by trying every NIR). Workflows carry no memo. tests/test_sealed_history.py
lists every search attribute and memo of a test run and checks it. The dev server, the
test server and a cluster (temporal-dev/) register exactly this list.
"""


from temporalio.common import SearchAttributeKey

DOSSIER_ID = SearchAttributeKey.for_keyword("DossierId")
DOSSIER_STATE = SearchAttributeKey.for_keyword("DossierState")

# A backfill campaign's phase and its percentage of rows acknowledged by AGORA.
BACKFILL_STATE = SearchAttributeKey.for_keyword("BackfillState")
BACKFILL_PROGRESS = SearchAttributeKey.for_int("BackfillProgress")

ALL: tuple[SearchAttributeKey, ...] = (DOSSIER_ID, DOSSIER_STATE, BACKFILL_STATE, BACKFILL_PROGRESS)


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_').title().replace('_', '')}"]
    return flags
