"""The 2019+ backfill ("reprise d'antériorité", SPEC §6, issue 14): reading the legacy
export and classifying its rows (the rules are pure, in ``state_models/backfill.py``), and a
realistic messy sample export. Reads files and the store; writes only what it is asked to
(a report, a sample)."""
