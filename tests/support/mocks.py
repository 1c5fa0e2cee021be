"""Pulumi mocks that record every registration, with its parent and dependencies."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

import pulumi
from pulumi.runtime.mocks import MockMonitor


@dataclass
class Registration:
    typ: str
    name: str
    inputs: dict
    parent: str
    dependencies: list[str]
    protect: bool = False
    retain_on_delete: bool = False
    provider: str = ""  # the explicit provider's reference (urn::id), "" for the default one


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as state, plus whatever ``outputs(typ, name, inputs)`` adds."""

    def __init__(self, outputs: Optional[Callable[[str, str, dict], dict]] = None) -> None:
        self.outputs = outputs or (lambda typ, name, inputs: {})
        self.registrations: list[Registration] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", {**args.inputs, **self.outputs(args.typ, args.name, args.inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}, None

    def named(self, name: str) -> Registration:
        [registration] = [r for r in self.registrations if r.name == name]
        return registration


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc

            self.recording.registrations.append(Registration(
                request.type, request.name, rpc.deserialize_properties(request.object), request.parent,
                list(request.dependencies), request.protect, request.retainOnDelete, request.provider))
        return response


@dataclass
class MockRun:
    mocks: RecordingMocks
    warnings: list[str] = field(default_factory=list)


class _WarningCollector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


def install_mocks(project: str = "dreamfactory-infra", stack: str = "unit",
                  outputs: Optional[Callable[[str, str, dict], dict]] = None) -> MockRun:
    mocks = RecordingMocks(outputs)
    run = MockRun(mocks)
    logger = logging.getLogger(f"pulumi-mocks-{id(run)}")
    logger.addHandler(_WarningCollector(run.warnings))
    logger.propagate = False
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, logger=logger,
                             monitor=_RecordingMonitor(mocks))
    return run
