"""Which person's key seals a dossier workflow's payloads, and crypto-erasure of a person."""

from __future__ import annotations

from temporalio.client import Client

from crypto.codec import EncryptionCodec
from crypto.person_keys import PersonKeys


def sealing_keys(client: Client) -> PersonKeys | None:
    """The keys of the client's codec (None for an unsealed client: the codec's benchmark)."""
    codec = client.data_converter.payload_codec
    return codec.keys if isinstance(codec, EncryptionCodec) else None


def bind_to_person(client: Client, workflow_id: str, nir: str) -> str | None:
    """Before the workflow's first payload: seal ``workflow_id`` under the key of the person
    with this NIR (created on first use). Answers the key id."""
    keys = sealing_keys(client)
    if keys is None:
        return None
    return keys.bind_workflow(workflow_id, keys.for_person(nir))
