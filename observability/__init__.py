"""What operators see of a running process: its metrics (Prometheus), its log lines (JSON)
and the request id that joins an API request to the workflow, the activities and the AGORA
exchanges it caused. Below every other room but ``settings``, ``state_models`` and
``contracts``: any process may import it."""
