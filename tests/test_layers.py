"""The house's import rules (README "Layers"): arrows only downward. Parses every module's
imports and fails naming each import that runs the wrong way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"crypto", "state_models", "contracts", "workflows", "activities", "agora", "store",
           "notifications", "api", "cli", "temporal_client", "bench", "settings", "worker",
           "devstack", "backfill", "observability"}
# folder → the project packages it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "state_models": PROJECT - {"state_models"},
    # Keys and ciphers: below everything but the settings they are read from.
    "crypto": PROJECT - {"crypto", "settings"},
    "contracts": PROJECT - {"contracts", "state_models", "agora", "notifications"},
    "agora": {"workflows", "api", "activities", "store", "temporal_client", "cli", "bench",
              "backfill"},
    "notifications": {"workflows", "api", "activities", "store", "temporal_client", "cli", "bench",
                      "backfill"},
    "store": {"workflows", "api", "activities", "temporal_client", "cli", "bench", "backfill"},
    "activities": {"workflows", "api", "temporal_client", "cli", "bench"},
    "workflows": {"api", "store", "temporal_client", "cli", "bench", "worker", "backfill"},
    # Reads exports and the store: below the commands, the pages and the activities that use it.
    "backfill": {"workflows", "api", "activities", "temporal_client", "cli", "bench", "worker"},
    "temporal_client": {"api", "cli", "bench"},
    "api": {"cli", "bench", "worker", "activities"},
    # Metrics, logs, correlation: below every room that records or logs anything.
    "observability": PROJECT - {"observability", "settings", "state_models", "contracts"},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(folder: str) -> list[str]:
    banned = FORBIDDEN[folder]
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in sorted((ROOT / folder).rglob("*.py"))
            for line, module in imports_of(path)
            if module.split(".")[0] in banned]


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_runs_upward(folder: str) -> None:
    assert violations(folder) == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom workflows.dossier import DossierWorkflow\n")
    assert (2, "workflows.dossier") in imports_of(bad)
    assert "workflows" in FORBIDDEN["store"]


# Modules whose dataclasses travel as Temporal payloads: the SDK's converter resolves a
# dataclass's type hints at every decode, and annotations postponed as strings cost it about
# three times more (`from __future__ import annotations`), on every payload of every workflow.
PAYLOAD_MODULES = [*sorted((ROOT / "contracts").glob("*.py")), ROOT / "agora" / "messages.py",
                   ROOT / "state_models" / "dossier.py", ROOT / "state_models" / "market.py",
                   ROOT / "state_models" / "calendar.py", ROOT / "notifications" / "contacts.py"]


@pytest.mark.parametrize("module", PAYLOAD_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_payload_types_keep_their_annotations_evaluated(module: Path) -> None:
    tree = ast.parse(module.read_text())
    postponed = [node.lineno for node in tree.body if isinstance(node, ast.ImportFrom)
                 and node.module == "__future__" and any(a.name == "annotations" for a in node.names)]
    assert not postponed, f"{module.relative_to(ROOT)}:{postponed[0]} postpones its annotations"
