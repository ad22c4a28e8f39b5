"""Authorisation profiles (PAGM, SPEC §3): the rules, each user's profiles per role and the
hash-chained history of every grant, change and revocation, the identity vector carrying
the acting user's own profiles — and AGORA refusing a write signed with a read-only one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select, update

from agora import operations
from agora.client import AgoraClient
from agora.errors import AgoraFault
from agora.tracing import ExchangeContext
from api.auth import PERMISSIONS
from contracts.authorisations import AGORA_WRITER_ROLES, KNOWN_RIGHTS, WRITE_RIGHTS, valid_profiles
from settings import Settings
from state_models.authorisations import (
    CHANGED,
    GRANTED,
    REVOKED,
    AuthorisationChange,
    ProfileRefused,
    plan_changes,
    vector_profiles,
)
from store.authorisations import change_authorisations, history, profiles_for
from store.db import Database
from store.models import ROLES, User
from store.trace_models import AuthorisationRecord, VectorRecord
from store.traces import TraceStore, verify
from store.users import create_user
from tests.fixtures_agora import SimulatorHandle, find_or_create_request

READ = "AGORA_LECTURE;REGION-CORSE"
WRITE = "AGORA_FINANCEUR;REGION-CORSE"
APPLICATION = ("APPLI_FINANCEUR;REGION-CORSE",)

# --- the rules --------------------------------------------------------------------------------


def test_the_roles_that_write_to_agora_are_those_with_a_write_permission() -> None:
    writers = PERMISSIONS["dossiers:write"] | PERMISSIONS["markets:write"]
    assert AGORA_WRITER_ROLES == writers
    # The DPO's rectifications reach AGORA under the application's authority, not theirs.
    assert "dpo" not in AGORA_WRITER_ROLES
    assert WRITE_RIGHTS == {"AGORA_FINANCEUR"} and KNOWN_RIGHTS == {"AGORA_FINANCEUR", "AGORA_LECTURE"}


def test_profiles_are_normalised_and_a_read_only_role_may_not_write() -> None:
    assert valid_profiles("dossier_manager", [" agora_financeur;region-corse ", WRITE, READ]) == (
        WRITE, READ)
    assert valid_profiles("dossier_manager", [READ]) == (READ,)  # a writer may be held to reading
    for role, profiles, says in (
            ("auditor", [WRITE], "lecture seule"),
            ("operator", ["AGORA_FINANCEUR;REGION-CORSE", READ], "lecture seule"),
            ("auditor", ["AGORA_TOUT;REGION-CORSE"], "droit PAGM inconnu"),
            ("auditor", ["AGORA_LECTURE"], "mal formé"),
            ("auditor", ["", "  "], "au moins un profil")):
        with pytest.raises(ProfileRefused, match=says) as refused:
            valid_profiles(role, profiles)
        assert refused.value.role == role


def test_a_change_is_one_entry_per_role_granted_revoked_or_reprofiled() -> None:
    before = {"auditor": (READ,), "dossier_manager": (WRITE,), "operator": (READ,)}
    after = {"dossier_manager": (READ,), "operator": (READ,), "market_manager": (WRITE,)}
    assert plan_changes(before, after) == [
        AuthorisationChange(REVOKED, "auditor", (READ,), ()),
        AuthorisationChange(CHANGED, "dossier_manager", (WRITE,), (READ,)),
        AuthorisationChange(GRANTED, "market_manager", (), (WRITE,)),
    ]
    assert plan_changes(after, after) == []
    assert vector_profiles({"market_manager": (WRITE,), "auditor": (READ,),
                            "dossier_manager": (WRITE, READ)}) == (READ, WRITE)


# --- the store: profiles per user and role, history --------------------------------------------


@pytest.fixture
def database(agora_settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'users.sqlite3'}")
    yield database
    database.dispose()


def test_grants_changes_and_revocations_are_recorded_with_who_when_why(database: Database) -> None:
    with database.sessions.begin() as session:
        create_user(session, "camille", "un mot de passe long", ["dossier_manager", "auditor"],
                    granted_by="admin.region", reason="arrivée dans le service", partner="REGION-CORSE")
    with database.sessions.begin() as session:
        user = session.scalars(select(User).where(User.username == "camille")).one()
        assert profiles_for(session, "camille", APPLICATION, "REGION-CORSE") == (READ, WRITE)
        changes = change_authorisations(
            session, user, {"dossier_manager": [READ], "operator": [READ]}, actor="admin.region",
            reason="mutation : consultation seule", source="10.0.0.7", partner="REGION-CORSE")
        assert [c.action for c in changes] == [REVOKED, CHANGED, GRANTED]
        assert change_authorisations(session, user, {"dossier_manager": [READ], "operator": [READ]},
                                     actor="x", reason="rien", source="", partner="REGION-CORSE") == []
    with database.sessions.begin() as session:
        user = session.scalars(select(User).where(User.username == "camille")).one()
        assert user.role_codes == {"dossier_manager", "operator"}
        assert profiles_for(session, "camille", APPLICATION, "REGION-CORSE") == (READ,)
        with pytest.raises(ProfileRefused):  # refused whole: nothing changes
            change_authorisations(session, user, {"auditor": [WRITE], "market_manager": [WRITE]},
                                  actor="admin.region", reason="essai", source="",
                                  partner="REGION-CORSE")
        with pytest.raises(ValueError, match="motif"):
            change_authorisations(session, user, {}, actor="admin.region", reason=" ", source="",
                                  partner="REGION-CORSE")
    with database.sessions() as session:
        rows = history(session, ["camille"])
        assert [(r.action, r.role, r.profiles_before, r.profiles_after, r.actor) for r in rows] == [
            (GRANTED, "auditor", "", READ, "admin.region"),
            (GRANTED, "dossier_manager", "", WRITE, "admin.region"),
            (REVOKED, "auditor", READ, "", "admin.region"),
            (CHANGED, "dossier_manager", WRITE, READ, "admin.region"),
            (GRANTED, "operator", "", READ, "admin.region"),
        ]
        assert rows[0].reason == "arrivée dans le service" and rows[0].source == "cli"
        assert rows[2].reason == "mutation : consultation seule" and rows[2].source == "10.0.0.7"
        assert verify(session) == []


def test_who_carries_which_profiles(database: Database) -> None:
    with database.sessions.begin() as session:
        create_user(session, "ancien", "un mot de passe long", ["market_manager"], partner="REGION-CORSE")
        assert profiles_for(session, None, APPLICATION, "REGION-CORSE") == APPLICATION
        assert profiles_for(session, "bench.user", APPLICATION, "REGION-CORSE") == APPLICATION
        assert profiles_for(session, "ancien", APPLICATION, "REGION-CORSE") == (WRITE,)
        session.execute(update(User).where(User.username == "ancien").values(active=False))
    with database.sessions() as session:
        assert profiles_for(session, "ancien", APPLICATION, "REGION-CORSE") == ()


def test_a_changed_history_entry_is_caught_by_verify(database: Database) -> None:
    with database.sessions.begin() as session:
        create_user(session, "dominique", "un mot de passe long", ["auditor"], partner="REGION-CORSE")
        create_user(session, "eve", "un mot de passe long", ["operator"], partner="REGION-CORSE")
    with database.sessions.begin() as session:
        session.execute(update(AuthorisationRecord).where(AuthorisationRecord.seq == 1)
                        .values(profiles_after=WRITE))
    with database.sessions() as session:
        problems = verify(session)
    assert [(p.chain, p.seq, p.kind) for p in problems] == [("authorisations", 1, "modifié")]
    assert "historique des habilitations" in problems[0].message


def test_every_role_has_a_label() -> None:
    assert AGORA_WRITER_ROLES <= set(ROLES)


# --- the identity vector carries the acting user's own profiles ----------------------------------


def test_a_read_only_profile_is_refused_a_write_and_the_vector_archived_says_so(
        agora_settings: Settings, tmp_path: Path, clean_simulator: SimulatorHandle) -> None:
    settings = dataclasses.replace(agora_settings,
                                   database_url=f"sqlite:///{tmp_path / 'traces.sqlite3'}")
    store = TraceStore(settings)
    client = AgoraClient(settings, traces=store)
    with pytest.raises(AgoraFault) as refused:
        client.send(find_or_create_request(31), "lecteur", ExchangeContext(dossier_id="D-31"),
                    pagm=(READ,))
    assert refused.value.code == operations.FAULT_INVALID_PAGM
    written = client.send(find_or_create_request(32), "lecteur", ExchangeContext(dossier_id="D-32"),
                          pagm=(READ, WRITE))
    assert written.agora_dossier_id
    with store.reading() as session:
        vectors = list(session.scalars(select(VectorRecord).order_by(VectorRecord.seq)))
    # One vector per (user, profiles): the new profiles were signed in at once.
    assert [(v.subject, v.pagm) for v in vectors] == [("lecteur", READ), ("lecteur", f"{READ}\n{WRITE}")]


# --- the command line ---------------------------------------------------------------------------


def test_the_command_sets_profiles_with_a_reason_and_shows_the_history(
        agora_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main as cli_main

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("AGORA_FLOW_DATABASE_URL", url)
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(agora_settings.data_dir))
    database = Database(url)
    with database.sessions.begin() as session:
        create_user(session, "paul", "un mot de passe long", ["operator"], partner="REGION-CORSE")
    database.dispose()
    with pytest.raises(SystemExit, match="lecture seule"):
        cli_main(["users", "set", "paul", "--role", f"operator={WRITE}", "--who", "rssi",
                  "--reason", "essai"])
    cli_main(["users", "set", "paul", "--role", "operator", "--role", f"dossier_manager={READ}",
              "--who", "rssi", "--reason", "renfort"])
    assert "role_granted dossier_manager : AGORA_LECTURE;REGION-CORSE" in capsys.readouterr().out
    cli_main(["users", "show", "paul"])
    shown = capsys.readouterr().out
    assert f"dossier_manager : {READ}" in shown and "par rssi : renfort" in shown
