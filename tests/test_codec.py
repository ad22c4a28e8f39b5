"""The payload codec and its keys: sealing, rotation, per-person keys, crypto-erasure,
and the refusal to start without a master key outside development."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    WorkflowSerializationContext,
)

from cli import main as cli_main
from crypto.codec import KEY_ID, EncryptionCodec, is_sealed, open_keys, rotate_keys
from crypto.keyring import MASTER_KEY_ENV, KeyConfigurationError, load_keyring
from crypto.person_keys import PersonKeyErased, PersonKeys
from settings import Settings
from temporal_client import product_data_converter

NIR = "185032A01234507"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    return dataclasses.replace(Settings(), data_dir=tmp_path, keys_folder=str(tmp_path / "keys"),
                               keyring_file="")


def context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


async def test_every_payload_is_sealed_and_decodes(settings: Settings) -> None:
    converter = product_data_converter(settings)
    value = {"nir": NIR, "birth_name": "SANTONI"}
    payloads = await converter.encode([value])
    assert is_sealed(payloads[0])
    assert NIR.encode() not in payloads[0].SerializeToString()
    assert await converter.decode(payloads, [dict]) == [value]


async def test_a_tampered_payload_or_a_swapped_key_id_is_refused(settings: Settings) -> None:
    converter = product_data_converter(settings)
    sealed = (await converter.encode(["secret"]))[0]
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(InvalidTag):
        await converter.decode([tampered])


async def test_key_files_are_private_and_never_printed(settings: Settings,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    keys = open_keys(settings)
    keyring_file = settings.keys_dir / "keyring.json"
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.keys_dir.stat().st_mode) == 0o700
    assert json.loads(keyring_file.read_text())["keys"][0] not in repr(keys)
    kid = keys.for_person(NIR)
    assert stat.S_IMODE((settings.keys_dir / "persons" / f"{kid}.json").stat().st_mode) == 0o600
    # The index names the person by a keyed hash only.
    assert all(NIR not in p.name and NIR not in p.read_text()
               for p in settings.keys_dir.rglob("*") if p.is_file())


async def test_rotation_makes_a_new_key_current_and_old_payloads_still_decode(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    converter = product_data_converter(settings)
    before = (await converter.encode(["avant"]))[0]
    old_id = before.metadata[KEY_ID].decode()
    person_key = open_keys(settings).for_person(NIR)
    monkeypatch.setenv("AGORA_FLOW_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(settings.data_dir))
    cli_main(["keys", "rotate"])
    printed = capsys.readouterr().out
    keys = open_keys(settings)
    assert keys.keyring.current_id != old_id and keys.keyring.current_id in printed
    assert "1 clé(s) de personne" in printed
    after = (await converter.encode(["après"]))[0]
    assert after.metadata[KEY_ID].decode() == keys.keyring.current_id
    assert await converter.decode([before, after], [str, str]) == ["avant", "après"]
    # A process that still has the old keyring reloads it on the unknown key id, and
    # unwraps the person key now wrapped under the new master key.
    stale = PersonKeys(load_keyring(settings).__class__(keys.keyring.keys[:1]), settings.keys_dir,
                       reload=lambda: load_keyring(settings))
    assert stale.key(person_key) == keys.key(person_key)


async def test_outside_development_the_master_key_must_be_supplied(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    production = dataclasses.replace(settings, env="production",
                                     keys_folder=str(settings.data_dir / "prod-keys"))
    with pytest.raises(KeyConfigurationError, match="AGORA_FLOW_MASTER_KEY"):
        load_keyring(production)
    assert not (production.keys_dir / "keyring.json").exists()  # nothing created silently
    monkeypatch.setenv("AGORA_FLOW_ENV", "production")
    monkeypatch.setenv("AGORA_FLOW_KEYS_DIR", str(production.keys_dir))
    with pytest.raises(SystemExit, match="ne démarre pas"):
        cli_main(["keys", "status"])
    supplied = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 × "A"
    monkeypatch.setenv(MASTER_KEY_ENV, supplied)
    keyring = load_keyring(production)
    assert supplied not in repr(keyring) and b"A" * 32 not in repr(keyring).encode()
    with pytest.raises(KeyConfigurationError, match="AGORA_FLOW_MASTER_KEY"):
        rotate_keys(production)


async def test_a_dossier_workflow_is_sealed_under_its_person_key(settings: Settings) -> None:
    converter = product_data_converter(settings)
    keys = open_keys(settings)
    kid = keys.bind_workflow("dossier-D-1", keys.for_person(NIR))
    assert keys.bind_workflow("dossier-D-2", keys.for_person(NIR)) == kid  # one key per person
    for ctx in (context("dossier-D-1"),
                ActivitySerializationContext(namespace="default", activity_id="1", activity_type=None,
                                             activity_task_queue=None, workflow_id="dossier-D-2",
                                             workflow_type="DossierWorkflow", is_local=False)):
        sealed = await converter.with_context(ctx).encode([NIR])
        assert sealed[0].metadata[KEY_ID].decode() == kid
        # Decoding needs no workflow id: the codec server has none.
        assert await converter.decode(sealed, [str]) == [NIR]
    other = await converter.with_context(context("market-M-1")).encode(["x"])
    assert other[0].metadata[KEY_ID].decode() == keys.keyring.current_id


async def test_crypto_erasure_makes_every_copy_unreadable(settings: Settings) -> None:
    converter = product_data_converter(settings)
    keys = open_keys(settings)
    kid = keys.bind_workflow("dossier-D-9", keys.for_person(NIR))
    sealed = await converter.with_context(context("dossier-D-9")).encode([{"nir": NIR}])
    backup = [Payload.FromString(p.SerializeToString()) for p in sealed]  # a copy elsewhere
    assert keys.erase(kid)
    for copy in (sealed, backup):
        with pytest.raises(PersonKeyErased):
            await converter.decode(copy)
    # The same person's next dossier gets a new key; the erased one stays gone.
    assert keys.for_person(NIR) != kid
    with pytest.raises(PersonKeyErased):
        keys.key(kid)


async def test_an_unsealed_payload_from_before_encryption_still_decodes(settings: Settings) -> None:
    plain = await DataConverter.default.encode(["ancien"])
    assert await product_data_converter(settings).decode(plain, [str]) == ["ancien"]


def test_the_codec_is_a_serialization_context_user(settings: Settings) -> None:
    codec = product_data_converter(settings).payload_codec
    assert isinstance(codec, EncryptionCodec)
    assert codec.with_context(context("dossier-X")).workflow_id == "dossier-X"


def test_unsealed_payloads_are_a_production_problem(settings: Settings) -> None:
    from store.production import problems

    assert settings.payload_encryption
    assert not [p for p in problems(settings) if "PAYLOAD_ENCRYPTION" in p.english]
    unsealed = dataclasses.replace(settings, payload_encryption=False)
    assert [p for p in problems(unsealed) if "PAYLOAD_ENCRYPTION" in p.english]
