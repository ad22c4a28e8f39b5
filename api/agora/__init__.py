"""AGORA's consultations for business users: rights, balances, eligibility, dossiers."""
