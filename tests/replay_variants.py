"""Workflow code changed the way a careless deploy would change it, for tests/test_replay.py.

In its own module, importing little: the workflow sandbox re-imports a workflow's module.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # By name, as workflows/dossier.py does: the payload converter resolves the input's
    # nested dataclass hints through the sandbox's modules.
    import agora.messages  # noqa: F401
    import contracts.agora_link
    import contracts.notify  # noqa: F401
    import notifications.contacts  # noqa: F401
    import state_models.calendar  # noqa: F401
    from contracts.dossier import DossierInput, DossierView
    from workflows.dossier import DossierWorkflow


@workflow.defn(name="DossierWorkflow")
class DossierWorkflowWithAnExtraStep(DossierWorkflow):
    """Today's dossier workflow with one more activity before the registration, added
    without ``workflow.patched``."""

    @workflow.run
    async def run(self, dossier: DossierInput) -> DossierView:
        await workflow.execute_activity("audit_new_dossier", dossier.dossier_id,
                                        start_to_close_timeout=timedelta(seconds=5))
        return await super().run(dossier)
