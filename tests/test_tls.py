"""TLS to AGORA: the simulator serves HTTPS with the dev CA's server certificate and can
require the client's; the client checks the server against its CA bundle and presents the
Region's certificate; production refuses plain HTTP or checking turned off."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.client import AgoraClient, tls_of
from agora.errors import AgoraUnavailable
from agora.pki import create_foreign_ca_leaf, ensure_dev_client_cert
from agora.simulator.config import SimulatorConfig
from agora.simulator.server import tls_options
from settings import Settings, load_profile
from store.production import problems
from tests.fixtures_agora import SimulatorHandle, find_or_create_request, start_simulator


@pytest.fixture(scope="module")
def strict_simulator(agora_settings: Settings) -> Iterator[SimulatorHandle]:
    """A second simulator that requires a client certificate issued by the dev CA."""
    strict = dataclasses.replace(agora_settings, simulator_require_client_cert=True)
    config = SimulatorConfig.from_settings(
        strict, db_path=strict.data_dir / "agora-simulator-strict.sqlite3")
    handle, server, thread = start_simulator(config, tls_options(strict))
    yield handle
    handle.close()
    server.should_exit = True
    thread.join(timeout=5)


def _rights(client: AgoraClient) -> dict:
    return client.read("ConsulterDroitsFormation", {"nir": find_or_create_request(1).person.nir})


def test_the_tests_talk_to_agora_over_https(agora_settings: Settings,
                                            simulator: SimulatorHandle) -> None:
    assert agora_settings.agora_url.startswith("https://") and simulator.url.startswith("https://")
    dev = ensure_dev_client_cert(agora_settings.pki_dir, agora_settings.application_id)
    # Development: the dev CA checks the server, the dev client leaf is presented.
    assert tls_of(agora_settings) == (str(dev.ca_cert), (str(dev.client_cert), str(dev.client_key)))
    assert _rights(AgoraClient(agora_settings))["cpf_hours"] >= 0


def test_a_required_client_certificate_is_presented_or_the_call_fails(
        agora_settings: Settings, strict_simulator: SimulatorHandle) -> None:
    dev = ensure_dev_client_cert(agora_settings.pki_dir, agora_settings.application_id)
    on_strict = dataclasses.replace(agora_settings, agora_url=strict_simulator.url)
    assert _rights(AgoraClient(on_strict))["dif_hours"] == 0
    # Configured as in production, with the CA but no client certificate: refused.
    without = dataclasses.replace(on_strict, env="production", agora_ca_bundle=str(dev.ca_cert))
    assert tls_of(without) == (str(dev.ca_cert), None)
    with pytest.raises(AgoraUnavailable):
        _rights(AgoraClient(without))
    explicit = dataclasses.replace(without, agora_client_cert=str(dev.client_cert),
                                   agora_client_key=str(dev.client_key))
    assert _rights(AgoraClient(explicit))["dif_hours"] == 0


def test_a_server_certificate_from_another_ca_is_refused(agora_settings: Settings,
                                                         tmp_path: Path) -> None:
    foreign = create_foreign_ca_leaf(tmp_path / "foreign", "autre")
    elsewhere = dataclasses.replace(agora_settings, agora_ca_bundle=str(foreign.ca_cert))
    with pytest.raises(AgoraUnavailable) as refused:
        _rights(AgoraClient(elsewhere))
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


def test_production_refuses_plain_http_or_unchecked_certificates(agora_settings: Settings) -> None:
    production = dataclasses.replace(agora_settings, env="production",
                                     agora_url="https://agora.example.org/agora",
                                     file_channel_url="https://sfe.agora.example.org/sfe")

    def englishes(settings: Settings) -> list[str]:
        return [p.english for p in problems(settings)]
    assert not [e for e in englishes(production)
                if "AGORA URL" in e or "file channel" in e or "AGORA_TLS_VERIFY" in e]
    plain = dataclasses.replace(production, agora_url="http://agora.example.org/agora")
    assert "the AGORA URL is not HTTPS: http://agora.example.org/agora" in englishes(plain)
    plain_files = dataclasses.replace(production, file_channel_url="http://sfe.agora.example.org/sfe")
    assert ("AGORA's file channel URL is not HTTPS: http://sfe.agora.example.org/sfe"
            in englishes(plain_files))
    unchecked = dataclasses.replace(production, agora_tls_verify=False)
    assert tls_of(unchecked)[0] is False
    assert any("AGORA_TLS_VERIFY" in e for e in englishes(unchecked))


def test_an_agora_profile_is_one_setting_and_each_variable_still_wins(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    profile = tmp_path / "recette.toml"
    profile.write_text('AGORA_URL = "https://agora-recette.example.org/agora"\n'
                       'AGORA_CA_BUNDLE = "certs/cdc-ca.pem"\nVI_AUDIENCE = "urn:cdc:recette"\n'
                       'AGORA_TLS_VERIFY = true\nVI_PAGM = ["AGORA_LECTURE;REGION-CORSE"]\n')
    for name in ("AGORA_URL", "AGORA_CA_BUNDLE", "VI_AUDIENCE", "AGORA_TLS_VERIFY", "VI_PAGM"):
        monkeypatch.delenv(f"AGORA_FLOW_{name}", raising=False)
    monkeypatch.setenv("AGORA_FLOW_AGORA_PROFILE", str(profile))
    monkeypatch.setenv("AGORA_FLOW_VI_AUDIENCE", "urn:cdc:surcharge")
    settings = Settings()
    assert settings.agora_url == "https://agora-recette.example.org/agora"
    assert settings.agora_ca_bundle == str(tmp_path / "certs" / "cdc-ca.pem")
    assert settings.vi_audience == "urn:cdc:surcharge" and settings.agora_tls_verify
    assert settings.vi_pagm == ("AGORA_LECTURE;REGION-CORSE",)

    wrong = tmp_path / "faux.toml"
    wrong.write_text('SMTP_HOST = "ailleurs"\n')
    monkeypatch.setenv("AGORA_FLOW_AGORA_PROFILE", str(wrong))
    with pytest.raises(ValueError, match="SMTP_HOST"):
        Settings()


@pytest.mark.parametrize("name", ["acceptance", "production"])
def test_the_shipped_profiles_are_https_and_checked(name: str) -> None:
    values = load_profile(str(Path(__file__).parent.parent / "agora" / "profiles" / f"{name}.toml"))
    assert values["AGORA_URL"].startswith("https://") and values["AGORA_TLS_VERIFY"] == "true"
    assert values["AGORA_CA_BUNDLE"] and values["AGORA_CLIENT_CERT"] and values["AGORA_CLIENT_KEY"]
