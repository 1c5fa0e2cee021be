"""The plain `pulumi` command as users and the workflows run it, from a copy of the project folder.

The binaries come from `tools/pulumi-cli/build` (CLI, Python language host, command provider); state goes to a
local file backend and plugins to a PULUMI_HOME inside the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pytest
import yaml

from tools.local_stack import LOCAL_PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".build" / "pulumi" / "bin"
BINARIES = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-command",
            "pulumi-resource-pulumi-python")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if not (BIN / name).exists()]


def missing_binaries_reason() -> str:
    return (f"missing {', '.join(missing_binaries())} in .build/pulumi/bin: run tools/pulumi-cli/build (.ci/run does); "
            "the Python language host and the command provider build only with ../shared/third_party beside this "
            "folder (its README), so without it these tests cannot run here")


# The tests that run the plain `pulumi` command: skipped, saying why and what to do, without the project-built binaries.
requires_binaries = pytest.mark.skipif(bool(missing_binaries()), reason=missing_binaries_reason())


def copy_project(destination: Path, stack_files: Sequence[str] = ("Pulumi.local.yaml",),
                 second_instance: bool = False) -> Path:
    """The program, its components, the policy pack and the named stack files; the real virtualenv, linked.

    The `local` stack's instance `second` (and its entries) is left out unless ``second_instance``: the tests of
    the stack's own DreamFactory run against one double; tests/e2e/test_instances.py runs the file as it is."""
    destination.mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, destination / name)
    for folder in ("components", "policy"):
        shutil.copytree(ROOT / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (destination / "stacks").mkdir()
    for name in stack_files:
        shutil.copy(ROOT / "stacks" / name, destination / "stacks" / name)
    if "Pulumi.local.yaml" in stack_files and not second_instance:
        path = destination / "stacks" / "Pulumi.local.yaml"
        document = yaml.safe_load(path.read_text())
        config = document["config"]
        config.pop("dreamfactory-infra:instances")
        config["dreamfactory-infra:corsEntries"] = [entry for entry in config["dreamfactory-infra:corsEntries"]
                                                    if "instance" not in entry]
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


@dataclass
class PulumiCli:
    """`pulumi ...` in ``project``; ``prefix`` runs it under another command (e.g. nsenter into a lab host)."""

    project: Path
    scratch: Path
    stack: str = "local"
    prefix: Sequence[str] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        (self.scratch / "state").mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PULUMI_HOME": str(self.scratch / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{self.scratch / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            **self.extra_env,
        }

    def __call__(self, *args: str, check: bool = True, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        argv = [*self.prefix, str(BIN / "pulumi"), *args, "--stack", self.stack, "--non-interactive"]
        result = subprocess.run(argv, cwd=self.project, env=self.env, text=True, capture_output=True, input=stdin,
                                timeout=600)
        self.log.append(f"$ pulumi {' '.join(args)}\n{result.stdout}\n{result.stderr}")
        if check and result.returncode:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, *args: str) -> subprocess.Popen:
        """``pulumi <args>`` started in the background (to be killed mid-run), in a session of its own."""
        argv = [*self.prefix, str(BIN / "pulumi"), *args, "--stack", self.stack, "--non-interactive"]
        return subprocess.Popen(argv, cwd=self.project, env=self.env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def init(self) -> None:
        self("stack", "select", "--create")

    def set_secret(self, key: str, value: str) -> None:
        """Through stdin, as an operator pipes a key file: never on a command line."""
        self("config", "set", "--secret", key, stdin=value)
