"""The request id that joins one API request to what it caused.

The API takes it from an incoming ``X-Request-Id`` (when well formed) or creates one; it
travels into the workflow as a Temporal header (never inside a business payload), from the
workflow into each activity it starts, and is read back there: activity log lines and the
AGORA exchange's trace carry it. Headers are not encrypted by the payload codec: the id is
random, never personal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from temporalio import client as temporal_client
from temporalio import worker as temporal_worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter

from state_models.validators import mask_nirs

HTTP_HEADER = "X-Request-Id"
TEMPORAL_HEADER = "agora-flow-request-id"
# What an incoming id may look like: hexadecimal digits and dashes (a UUID, a proxy's
# request id), 8 to 64 of them. Nothing a caller can spell a name with, nor a line break: the
# id travels in clear in Temporal headers, logs and traces.
_WELL_FORMED = re.compile(r"[0-9A-Fa-f][0-9A-Fa-f-]{7,63}")

request_id: ContextVar[str | None] = ContextVar("agora_flow_request_id", default=None)

_converter = PayloadConverter.default


def from_http(incoming: str | None) -> str:
    """The incoming id if well formed (8–64 hexadecimal digits and dashes) and quoting no
    NIR, else a new one."""
    if incoming and _WELL_FORMED.fullmatch(incoming) and mask_nirs(incoming) == incoming:
        return incoming
    return uuid.uuid4().hex


def _with_id(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    current = request_id.get()
    if current is None or TEMPORAL_HEADER in headers:
        return headers
    return {**headers, TEMPORAL_HEADER: _converter.to_payload(current)}


def _read(headers: Mapping[str, Payload]) -> str | None:
    payload = headers.get(TEMPORAL_HEADER)
    return _converter.from_payload(payload, str) if payload is not None else None


class ClientInterceptor(temporal_client.Interceptor):
    """Puts the current request id on every start, update and signal this client sends."""

    def intercept_client(self, next: temporal_client.OutboundInterceptor
                         ) -> temporal_client.OutboundInterceptor:
        return _ClientOutbound(next)


class _ClientOutbound(temporal_client.OutboundInterceptor):
    async def start_workflow(self, input: temporal_client.StartWorkflowInput) -> Any:
        input.headers = _with_id(input.headers)
        return await super().start_workflow(input)

    async def start_workflow_update(self, input: temporal_client.StartWorkflowUpdateInput
                                    ) -> Any:
        input.headers = _with_id(input.headers)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
            self, input: temporal_client.StartWorkflowUpdateWithStartInput) -> Any:
        input.start_workflow_input.headers = _with_id(input.start_workflow_input.headers)
        input.update_workflow_input.headers = _with_id(input.update_workflow_input.headers)
        return await super().start_update_with_start_workflow(input)

    async def signal_workflow(self, input: temporal_client.SignalWorkflowInput) -> None:
        input.headers = _with_id(input.headers)
        await super().signal_workflow(input)


class WorkerInterceptor(temporal_worker.Interceptor):
    """Reads the request id where a workflow run, update or signal arrives, hands it to the
    activities that handler starts (their own header), and sets it while an activity runs.

    Inside a workflow the id lives in a context variable of the handler's task, so two
    updates running at once each pass on their own id; a replay reads the same headers
    from the history, so it passes on the same ids.
    """

    def intercept_activity(self, next: temporal_worker.ActivityInboundInterceptor
                           ) -> temporal_worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: temporal_worker.WorkflowInterceptorClassInput
                                   ) -> type[temporal_worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ActivityInbound(temporal_worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> Any:
        # Set before the next interceptor hands a sync activity to its thread: the thread
        # runs in a copy of this context.
        token = request_id.set(_read(input.headers))
        try:
            return await super().execute_activity(input)
        finally:
            request_id.reset(token)


class _WorkflowInbound(temporal_worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporal_worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: temporal_worker.ExecuteWorkflowInput) -> Any:
        request_id.set(_read(input.headers))
        return await super().execute_workflow(input)

    async def handle_update_handler(self, input: temporal_worker.HandleUpdateInput) -> Any:
        request_id.set(_read(input.headers))
        return await super().handle_update_handler(input)

    async def handle_signal(self, input: temporal_worker.HandleSignalInput) -> None:
        request_id.set(_read(input.headers))
        await super().handle_signal(input)


class _WorkflowOutbound(temporal_worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: temporal_worker.StartActivityInput) -> Any:
        input.headers = _with_id(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: temporal_worker.StartLocalActivityInput) -> Any:
        input.headers = _with_id(input.headers)
        return super().start_local_activity(input)
