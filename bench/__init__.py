"""Benchmarks against the bare engine, and fault-injection ("chaos") runs.

Every figure comes from a command anyone can run: ``agora-flow bench lifecycle``,
``agora-flow bench open-dossiers`` and ``agora-flow chaos``.
"""
