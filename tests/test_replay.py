"""Every recorded history (tests/histories/, recorded by ``python -m tests.histories.record``)
replays on today's workflow code: a change that would break running workflows fails here.

No server needed: the SDK's Replayer runs the workflow code against each history and
fails on the first command that differs from what the history recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

import worker
from tests.replay_variants import DossierWorkflowWithAnExtraStep
from workflows.dossier import DossierWorkflow

HISTORIES = Path(__file__).parent / "histories"
INDEX = json.loads((HISTORIES / "index.json").read_text(encoding="utf-8"))


def _history(entry: dict[str, str]) -> WorkflowHistory:
    return WorkflowHistory.from_json(entry["workflow_id"],
                                     (HISTORIES / entry["file"]).read_text(encoding="utf-8"))


def _replayer(workflows: list[type]) -> Replayer:
    # As the worker builds it (worker.build_worker): its sandbox, its converter.
    return Replayer(workflows=workflows, workflow_runner=worker.workflow_runner())


def test_every_workflow_type_has_recorded_histories() -> None:
    recorded = {entry["workflow_type"] for entry in INDEX}
    assert recorded == {w.__name__ for w in worker.WORKFLOWS}
    assert {entry["file"] for entry in INDEX} == {p.name for p in HISTORIES.glob("*.json")} - {"index.json"}
    # A market that continued as new: the runs after the first are recorded too.
    assert any(entry["file"].endswith(".run2.json") for entry in INDEX)


@pytest.mark.parametrize("entry", INDEX, ids=[entry["file"] for entry in INDEX])
async def test_recorded_history_replays_on_todays_code(entry: dict[str, str]) -> None:
    result = await _replayer(worker.WORKFLOWS).replay_workflow(_history(entry),
                                                               raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{entry['file']}: {result.replay_failure}"


# --- the check can fail: a change running dossiers would not survive ----------------------

async def test_an_inserted_activity_fails_the_replay_of_a_running_dossier() -> None:
    [entry] = [e for e in INDEX if e["file"] == "dossier-lifecycle.json"]
    workflows = [DossierWorkflowWithAnExtraStep if w is DossierWorkflow else w
                 for w in worker.WORKFLOWS]
    with pytest.raises(NondeterminismError, match="audit_new_dossier"):
        await _replayer(workflows).replay_workflow(_history(entry))
