"""Keys and encryption of personal data, below every other package of agora-flow.

Why a package of its own rather than ``contracts/`` or ``temporal_client/``: it reads
key files (I/O, so not a contract), and both the Temporal data converter
(``temporal_client``) and the store's personal fields (``store``) use the same person
keys, while ``store`` may not import ``temporal_client``. It imports nothing of the
project but ``settings``.
"""
