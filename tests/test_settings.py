"""Settings travel to child processes (workers, simulator, benchmarks) as environment
variables: every field must come back as it left."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from settings import Settings, as_environment


def _changed(value: object) -> object:
    """A value of the same type, different from ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, Path):
        return value / "other"
    if isinstance(value, tuple):
        return (*value, "autre")
    if isinstance(value, str):
        return f"{value}-autre" if value else "autre"
    raise AssertionError(f"no changed value for {value!r}")


def test_every_setting_survives_the_trip_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    changed = dataclasses.replace(defaults, **{
        field.name: _changed(getattr(defaults, field.name))
        for field in dataclasses.fields(Settings) if field.name != "env"})
    for name, value in as_environment(changed).items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert {f.name: getattr(rebuilt, f.name) for f in dataclasses.fields(Settings)} == {
        f.name: getattr(changed, f.name) for f in dataclasses.fields(Settings)}
