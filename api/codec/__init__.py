"""Temporal remote codec endpoint for Temporal Web (POST /codec/decode, /codec/encode)."""
