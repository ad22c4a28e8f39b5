"""Types shared by several layers: workflow inputs and views, activity inputs and results,
update/signal/query names, search attribute keys.

Below workflows/, activities/, store/ and api/: everything may import this package; it
imports only state_models/, agora.messages (AGORA's vocabulary as dataclasses) and
notifications.contacts (contacts as data). JSON-friendly dataclasses only, so the
default Temporal converter carries them.
"""
