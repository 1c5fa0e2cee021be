"""Drive the real dynamic-provider plugin (``python -m pulumi.dynamic``) over gRPC, as the engine does.

The serialized provider is the exact string a deployment stores: ``CorsEntry`` is constructed under
Pulumi mocks and its ``__provider`` input is captured.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from typing import Any, Optional

import grpc
import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2 as pb
from pulumi.runtime.proto import provider_pb2_grpc as pb_grpc

from tests.support.mocks import install_mocks

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT_NAME = "dreamfactory-infra"
CORS_TYPE = "pulumi-python:dynamic/dreamfactory:CorsEntry"
SECRET_KEYS = {"dreamfactory:password", "dreamfactory:apiKey", "dreamfactory:sessionToken"}


def captured_provider() -> str:
    """The ``__provider`` value a program run stores for a ``CorsEntry``."""
    run = install_mocks(PROJECT_NAME, "contract")
    from components.dreamfactory import CorsEntry

    @pulumi.runtime.test
    def declare():
        entry = CorsEntry("capture", path="api/v2/*", origins=["https://app.example.com"])
        return entry.urn

    declare()
    provider = run.mocks.named("capture").inputs["__provider"]
    return rpc.unwrap_rpc_secret(provider) if rpc.is_rpc_secret(provider) else provider


def struct(values: dict):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(values, {}))
    finally:
        loop.close()


def plain(message) -> dict:
    return rpc.deserialize_properties(message, keep_unknowns=True)


class Plugin:
    """One plugin process; the provider cache and config live as long as it does."""

    def __init__(self, provider: str, config: dict[str, Any], env: Optional[dict[str, str]] = None):
        self.provider = provider
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PULUMI_PROJECT": PROJECT_NAME, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        port = int(self.process.stdout.readline())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.stub = pb_grpc.ResourceProviderStub(self.channel)
        # The engine sends the whole stack config with secrets wrapped; the plugin unwraps them.
        args = {key: rpc.wrap_rpc_secret(value) if key in SECRET_KEYS else value for key, value in config.items()}
        self.stub.Configure(pb.ConfigureRequest(args=struct(args), acceptSecrets=True))

    def close(self) -> str:
        """Stop the plugin and return what it wrote to stderr."""
        self.channel.close()
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        return text

    @staticmethod
    def urn(name: str) -> str:
        return f"urn:pulumi:contract::{PROJECT_NAME}::{CORS_TYPE}::{name}"

    def check(self, name: str, news: dict, olds: Optional[dict] = None) -> tuple[dict, list[tuple[str, str]]]:
        response = self.stub.Check(pb.CheckRequest(urn=self.urn(name), olds=struct(olds or {}),
                                                   news=struct({**news, "__provider": self.provider})))
        return plain(response.inputs), [(f.property, f.reason) for f in response.failures]

    def diff(self, name: str, entry_id: str, olds: dict, news: dict) -> int:
        response = self.stub.Diff(pb.DiffRequest(id=entry_id, urn=self.urn(name), olds=struct(olds), news=struct(news)))
        return response.changes

    def create(self, name: str, inputs: dict) -> tuple[str, dict]:
        response = self.stub.Create(pb.CreateRequest(urn=self.urn(name), properties=struct(inputs)))
        return response.id, plain(response.properties)

    def read(self, name: str, entry_id: str, state: dict) -> tuple[str, dict, dict]:
        response = self.stub.Read(pb.ReadRequest(id=entry_id, urn=self.urn(name), properties=struct(state)))
        return response.id, plain(response.properties), plain(response.inputs)

    def update(self, name: str, entry_id: str, olds: dict, news: dict) -> dict:
        response = self.stub.Update(pb.UpdateRequest(id=entry_id, urn=self.urn(name), olds=struct(olds), news=struct(news)))
        return plain(response.properties)

    def delete(self, name: str, entry_id: str, state: dict) -> None:
        self.stub.Delete(pb.DeleteRequest(id=entry_id, urn=self.urn(name), properties=struct(state)))

