"""The product's payload converter decodes every payload exactly as the SDK's own does."""

import dataclasses
from dataclasses import dataclass, field

import pytest
from temporalio.converter import DataConverter, PayloadConverter

from agora.messages import Person
from contracts.dossier import DossierInput, DossierView, HistoryEntry, RetryConfig
from contracts.payload_converter import ProductPayloadConverter, _fields
from tests import factories


@dataclass(frozen=True)
class Frozen:
    name: str
    tags: list[str] = field(default_factory=list)
    # Serialised but not passed to __init__: the SDK sets it afterwards.
    derived: int = field(default=0, init=False)


@dataclass
class Nested:
    frozen: Frozen
    many: list[Frozen]
    by_key: dict[str, Frozen]
    maybe: Frozen | None = None


SDK: PayloadConverter = DataConverter.default.payload_converter
PRODUCT: PayloadConverter = ProductPayloadConverter()


def _both(value: object, hint: type) -> tuple[object, object]:
    payloads = SDK.to_payloads([value])
    return (SDK.from_payloads(payloads, [hint])[0], PRODUCT.from_payloads(payloads, [hint])[0])


def _view() -> DossierView:
    entry = HistoryEntry(1, "validate", "2026-01-02T10:00:00+00:00", "agent.dupont",
                         "ValiderDossier", "req-1", "acknowledged", "validated", ack_id="A-1")
    return DossierView("D-1", "validated", True, "AG-1", ["enter"], [entry],
                       entry_situation={"france_travail": "oui"})


@pytest.mark.parametrize("value, hint", [
    (factories.dossier(RetryConfig()), DossierInput),
    (_view(), DossierView),
    (factories.person(), Person),
])
def test_the_contracts_decode_as_with_the_sdk(value: object, hint: type) -> None:
    sdk, product = _both(value, hint)
    assert product == sdk == value
    assert type(product) is hint


def test_nested_frozen_and_init_false_fields_as_with_the_sdk() -> None:
    inner = Frozen("a", ["x"])
    object.__setattr__(inner, "derived", 7)
    value = Nested(inner, [Frozen("b")], {"k": inner}, maybe=inner)
    sdk, product = _both(value, Nested)
    assert product == sdk == value
    assert product.frozen.derived == 7 and product.by_key["k"].derived == 7  # type: ignore[attr-defined]


def test_unknown_fields_ignored_missing_or_mistyped_ones_refused() -> None:
    extra = SDK.to_payloads([{"name": "a", "tags": [], "later": "ignored"}])
    assert PRODUCT.from_payloads(extra, [Frozen])[0] == SDK.from_payloads(extra, [Frozen])[0]
    missing = SDK.to_payloads([{"tags": []}])
    with pytest.raises(TypeError):
        PRODUCT.from_payloads(missing, [Frozen])
    mistyped = SDK.to_payloads([{"frozen": {"name": 5}, "many": [], "by_key": {}}])
    for converter in (SDK, PRODUCT):
        with pytest.raises(Exception, match="field frozen on dataclass"):
            converter.from_payloads(mistyped, [Nested])


def test_field_types_are_resolved_once_per_class() -> None:
    _fields.cache_clear()
    payloads = SDK.to_payloads([_view()])
    for _ in range(3):
        PRODUCT.from_payloads(payloads, [DossierView])
    info = _fields.cache_info()
    # DossierView and HistoryEntry resolved once each, then found in the cache.
    assert info.misses == 2 and info.hits == 4
    assert [name for name, _, _ in _fields(DossierView)] == [
        f.name for f in dataclasses.fields(DossierView)]
