"""SOAP faults the simulator answers, and the faults it can be told to inject."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from lxml import etree

from agora import operations

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
FAULT_KINDS = frozenset({"http503", "timeout", "slow", "soap_fault", "timeout_after_apply"})
DEFAULT_DELAYS = {"timeout": 30.0, "timeout_after_apply": 30.0, "slow": 2.0}


class SoapFault(Exception):
    """A refusal answered as a SOAP 1.1 fault; ``code`` is a prefixed QName of operations.py."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def fault_envelope(code: str, message: str) -> bytes:
    # The fault-code prefixes must resolve: declare them all on the envelope.
    nsmap = {"soap": SOAP11_NS, **operations.FAULT_NAMESPACES}
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap=nsmap)
    body = etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP11_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = code
    string = etree.SubElement(fault, "faultstring")
    string.text = message
    string.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


@dataclass
class FaultRule:
    """Inject ``kind`` into calls of ``operation`` ("*": any): the next ``count`` calls,
    each call with ``probability``, or (neither given) every call until cleared."""

    kind: str
    operation: str = "*"
    count: int | None = None
    probability: float | None = None
    delay_seconds: float | None = None
    fault_code: str | None = None
    retry_after: int | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}"
            )
        if self.operation != "*" and self.operation not in operations.BY_SOAP_NAME:
            raise ValueError(f"unknown operation {self.operation!r}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")

    @property
    def delay(self) -> float:
        return (
            self.delay_seconds
            if self.delay_seconds is not None
            else DEFAULT_DELAYS.get(self.kind, 0.0)
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, rules: tuple[FaultRule, ...] = (), seed: int | None = None) -> None:
        self._rules = list(rules)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def pick(self, operation: str) -> FaultRule | None:
        """The rule that fires for this call, if any (consumes one of its ``count``)."""
        with self._lock:
            for rule in self._rules:
                if rule.operation not in ("*", operation):
                    continue
                if rule.probability is not None and self._random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                return rule
            return None
