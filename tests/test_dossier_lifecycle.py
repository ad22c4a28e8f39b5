"""The dossier lifecycle's rules on payments after the exit and after the settlement (pure)."""

from __future__ import annotations

import pytest

from state_models import dossier as lifecycle
from state_models.dossier import DossierFacts, IllegalTransition


def test_a_payment_after_the_exit_is_the_final_instalment_and_leaves_the_dossier_exited() -> None:
    exited = DossierFacts(state="exited", agora_dossier_id="AG1", entry_date="2026-01-05",
                          exit_date="2026-06-30", payments=2)
    assert "pay" in lifecycle.allowed_events(exited)
    paid = lifecycle.apply(exited, "pay", {"payment_date": "2026-07-05", "amount": "100.00"})
    assert paid.state == "exited" and paid.payments == 3
    assert lifecycle.allowed_events(paid) == lifecycle.allowed_events(exited)


@pytest.mark.parametrize("state", ["created", "validated", "interrupted", "settled", "cancelled"])
def test_no_payment_outside_training_or_after_its_exit(state: str) -> None:
    with pytest.raises(IllegalTransition):
        lifecycle.check(DossierFacts(state=state, agora_dossier_id="AG1"), "pay")


def test_a_closed_dossier_s_refusal_says_why() -> None:
    assert "soldé" in lifecycle.closed_refusal("settled", "pay")
    assert "aucune rémunération" in lifecycle.closed_refusal("settled", "pay")
    assert lifecycle.closed_refusal("cancelled", "enter") == (
        "le dossier est clos (cancelled) : « enter » n'est plus possible")
