"""The Temporal payload codec: every payload sealed with AES-256-GCM, its key id in metadata.

Payloads of a personal workflow (a dossier's) are sealed under that person's data key,
found from the workflow id the SDK gives through its serialization context; all others
under the current master key. Decoding needs only the payload (its metadata names the
key), so the codec server, which gets no workflow id, decodes them too.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Self

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from crypto.keyring import keyring_path, load_keyring, rotate
from crypto.person_keys import PERSON_KEY_PREFIX, PersonKeyErased, PersonKeys, open_sealed, seal
from settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
AES_256_GCM = b"AES-256-GCM"


class UnknownKey(LookupError):
    """A payload names a key this process does not hold."""


@dataclasses.dataclass(frozen=True)
class EncryptionCodec(PayloadCodec, WithSerializationContext):
    keys: PersonKeys = dataclasses.field(repr=False)
    # Workflow ids whose payloads are personal (sealed under a person's key).
    personal_prefixes: tuple[str, ...] = ()
    workflow_id: str | None = None

    def with_context(self, context: SerializationContext) -> Self:
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        return dataclasses.replace(self, workflow_id=workflow_id)

    def _key_id(self) -> str:
        if self.workflow_id and self.workflow_id.startswith(self.personal_prefixes):
            return self.keys.for_workflow(self.workflow_id)
        return self.keys.keyring.current_id

    def key(self, kid: str) -> bytes:
        """The key named ``kid``: UnknownKey or PersonKeyErased when not held."""
        if kid.startswith(PERSON_KEY_PREFIX):
            return self.keys.key(kid)
        key = self.keys.master(kid)
        if key is None:
            raise UnknownKey(kid)
        return key

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not payloads:
            return []
        kid = self._key_id()
        key = self.key(kid)
        return [Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode(), CIPHER: AES_256_GCM},
                        data=seal(key, p.SerializeToString(), kid.encode()))
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was enabled
        kid = payload.metadata[KEY_ID].decode()
        inner = Payload()
        inner.ParseFromString(open_sealed(self.key(kid), payload.data, kid.encode()))
        return inner


def is_sealed(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


_opened: dict[tuple[str, str], PersonKeys] = {}


def open_keys(settings: Settings) -> PersonKeys:
    """This process's keys, loaded once per keyring and keys folder; KeyConfigurationError
    (no start) when the master key is missing outside development."""
    name = (str(keyring_path(settings)), str(settings.keys_dir))
    if name not in _opened:
        _opened[name] = PersonKeys(load_keyring(settings), settings.keys_dir,
                                   reload=functools.partial(load_keyring, settings))
    return _opened[name]


def rotate_keys(settings: Settings) -> tuple[str, int]:
    """A new master key becomes current; person keys are re-wrapped under it. Answers the
    new key id and how many person keys were re-wrapped. Other running processes still
    decode (they reload the keyring on an unknown key id) and seal under the new key once
    restarted."""
    keys = open_keys(settings)
    keys.keyring = rotate(settings)
    return keys.keyring.current_id, keys.rewrap()


def data_converter(settings: Settings, personal_prefixes: tuple[str, ...],
                   payload_converter_class: type[PayloadConverter]) -> DataConverter:
    """The product's one data converter: sealed payloads, and failure messages and stack
    traces moved into a sealed payload (they may quote a name)."""
    return DataConverter(
        payload_converter_class=payload_converter_class,
        payload_codec=EncryptionCodec(open_keys(settings), personal_prefixes),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


__all__ = ["EncryptionCodec", "PersonKeyErased", "UnknownKey", "data_converter", "is_sealed",
           "open_keys"]
