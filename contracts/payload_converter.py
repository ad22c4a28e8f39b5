"""How the contracts travel: the SDK's JSON payloads, with each dataclass's field types
resolved once per process.

The SDK's converter calls ``typing.get_type_hints`` on a dataclass every time it decodes
one (and again for each nested dataclass): 7–10 % of a worker's Python time in
`agora-flow bench lifecycle`. Its extension point for this is a ``JSONTypeConverter``,
tried before its own conversion; this one converts dataclasses exactly as the SDK does
(known fields converted, unknown ones ignored, ``init=False`` fields set afterwards) from
field types it resolved once. Everything else is left to the SDK.
"""

import dataclasses
import functools
import typing
from typing import Any

from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)

# Bounded: workflow modules re-imported into each workflow's sandbox define new classes.
_FIELD_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, resolved type, passed to __init__) of each field of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], f.init) for f in dataclasses.fields(cls))


class DataclassConverter(JSONTypeConverter):
    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        passed: dict[str, Any] = {}
        set_after: dict[str, Any] = {}
        for name, field_type, in_init in _fields(hint):
            if name not in value:
                continue  # a missing required field fails the constructor, as in the SDK
            try:
                converted = value_to_type(field_type, value[name], CONVERTERS)
            except Exception as err:
                raise TypeError(f"Failed converting field {name} on dataclass {hint}") from err
            (passed if in_init else set_after)[name] = converted
        obj = hint(**passed)
        for name, converted in set_after.items():
            object.__setattr__(obj, name, converted)  # frozen dataclasses too, as the SDK
        return obj


CONVERTERS: list[JSONTypeConverter] = [DataclassConverter()]


class ProductPayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, its JSON one given :class:`DataclassConverter`."""

    def __init__(self) -> None:
        super().__init__(*(
            JSONPlainPayloadConverter(custom_type_converters=CONVERTERS)
            if isinstance(converter, JSONPlainPayloadConverter) else converter
            for converter in DefaultPayloadConverter.default_encoding_payload_converters))
