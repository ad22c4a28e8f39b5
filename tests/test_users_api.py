"""Users' authorisations through the API and the pages, end to end: an administrator holds a
dossier manager to a read-only PAGM, the manager's next dossier is refused by AGORA
(vi:InvalidPagm) through the worker's own identity vector, the history says who changed
what and why, and the holders of ``traces:read`` are listed for administrators only."""

from __future__ import annotations

import pytest

from agora import operations
from tests.api_helpers import create, registered
from tests.fixtures_api import PASSWORD, ApiHandle

pytestmark = pytest.mark.usefixtures("clean_simulator")

READ = "AGORA_LECTURE;REGION-CORSE"
WRITE = "AGORA_FINANCEUR;REGION-CORSE"


async def test_a_read_only_pagm_is_refused_a_write_end_to_end(api: ApiHandle) -> None:
    async with api.client("admin") as admin:
        held = await admin.put("/api/users/gestionnaire/authorisations", json={
            "roles": {"dossier_manager": [READ]}, "reason": "consultation seule pendant l'audit"})
        assert held.status_code == 200, held.text
        assert held.json()["roles"] == [{"role": "dossier_manager", "label": "Gestionnaire de dossiers",
                                         "profiles": [READ], "read_only": False, "configured": True}]
    async with api.client("gestionnaire") as manager:
        refused = await registered(manager, await create(manager, birth_name="Pagm-Lecture"))
    entry = refused["timeline"][-1]
    assert entry["outcome"] == "refused" and entry["fault_code"] == operations.FAULT_INVALID_PAGM

    async with api.client("auditeur") as auditor:
        traces = (await auditor.get("/api/traces", params={"dossier_id": refused["dossier_id"]})).json()
        write = next(t for t in traces if t["operation"] == "RechercherOuCreerDossier")
        assert write["fault_code"] == operations.FAULT_INVALID_PAGM
        detail = (await auditor.get(f"/api/traces/{write['id']}")).json()
        assert detail["vector"]["subject"] == "gestionnaire" and detail["vector"]["pagm"] == [READ]

    async with api.client("admin") as admin:
        restored = await admin.put("/api/users/gestionnaire/authorisations", json={
            "roles": {"dossier_manager": []}, "reason": "fin de l'audit"})
        assert restored.json()["roles"][0]["profiles"] == [WRITE]
        history = restored.json()["history"]
    assert [(h["action"], h["profiles_before"], h["profiles_after"], h["actor"], h["reason"])
            for h in history][-2:] == [
        ("pagm_changed", [WRITE], [READ], "admin", "consultation seule pendant l'audit"),
        ("pagm_changed", [READ], [WRITE], "admin", "fin de l'audit")]
    assert history[0]["action"] == "role_granted" and history[-1]["source"] == "127.0.0.1"
    async with api.client("gestionnaire") as manager:
        accepted = await registered(manager, await create(manager, birth_name="Pagm-Ecriture"))
    assert accepted["timeline"][-1]["outcome"] == "acknowledged"


async def test_profiles_refused_name_the_role_and_only_administrators_manage_users(
        api: ApiHandle) -> None:
    async with api.client("admin") as admin:
        refused = await admin.put("/api/users/auditeur/authorisations", json={
            "roles": {"auditor": [WRITE]}, "reason": "essai"})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "roles", "auditor"]
        assert "lecture seule" in refused.json()["detail"][0]["msg"]
        for body in ({"roles": {"auditor": [READ]}, "reason": ""},
                     {"roles": {"auditeur": [READ]}, "reason": "rôle inconnu"}):
            assert (await admin.put("/api/users/auditeur/authorisations", json=body)).status_code == 422
        assert (await admin.get("/api/users/personne")).status_code == 404
        alone = await admin.put("/api/users/admin/authorisations", json={
            "roles": {"auditor": []}, "reason": "départ"})
        assert alone.status_code == 422 and "dernier administrateur" in alone.json()["detail"][0]["msg"]
        readers = (await admin.get("/api/users", params={"permission": "traces:read"})).json()
        assert [u["username"] for u in readers] == ["auditeur"]
        assert (await admin.get("/api/users", params={"permission": "tout"})).status_code == 422
        unchanged = (await admin.get("/api/users/auditeur")).json()
        assert unchanged["roles"][0]["profiles"] == [READ] and unchanged["roles"][0]["configured"]
        journal = (await admin.get("/api/audit-journal", params={"username": "admin"})).json()
        assert any(e["action"] == "authorisations.read" and e["query"] == {"username": "auditeur"}
                   for e in journal)
    for username in ("gestionnaire", "auditeur", "operateur"):
        async with api.client(username) as other:
            assert (await other.get("/api/users")).status_code == 403
            assert (await other.put("/api/users/operateur/authorisations", json={
                "roles": {"administrator": [READ]}, "reason": "moi"})).status_code == 403


async def test_the_administration_pages_show_holders_and_history_and_change_profiles(
        api: ApiHandle) -> None:
    async with api.client() as client:
        await client.post("/connexion", data={"username": "admin", "password": PASSWORD})
        listing = await client.get("/administration/utilisateurs")
        assert listing.status_code == 200 and "Habilités à lire les traces" in listing.text
        readers = listing.text.split('id="trace-readers"', 1)[1]
        assert "auditeur" in readers and "gestionnaire" not in readers
        page = await client.get("/administration/utilisateurs/operateur")
        assert page.status_code == 200 and "Historique des habilitations" in page.text
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        refused = await client.post("/administration/utilisateurs/operateur", data={
            "csrf": csrf, "role_operator": "1", "profiles_operator": WRITE, "reason": "essai"})
        assert refused.status_code == 422 and "lecture seule" in refused.text
        saved = await client.post("/administration/utilisateurs/operateur", data={
            "csrf": csrf, "role_operator": "1", "role_auditor": "1",
            "profiles_operator": READ, "reason": "renfort de l'audit"})
        assert saved.status_code == 303
        shown = await client.get("/administration/utilisateurs/operateur")
        assert "rôle attribué" in shown.text and "renfort de l&#39;audit" in shown.text
    async with api.client() as client:
        await client.post("/connexion", data={"username": "auditeur", "password": PASSWORD})
        assert (await client.get("/administration/utilisateurs")).status_code == 403
