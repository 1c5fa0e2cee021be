"""The README's "Your own DreamFactory, step by step" recipe, run line for line as written, against the local
DreamFactory double standing in for "your own" (its address, admin and password in place of the examples)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from components.dreamfactory.client import ConnectionSettings, DreamFactoryClient
from tests.support.cli import BIN, copy_project, requires_binaries
from tests.support.local_df import ADMIN_EMAIL

pytestmark = requires_binaries
ROOT = Path(__file__).resolve().parents[2]


def recipe() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- recipe:start -->", 1)[1].split("<!-- recipe:end -->", 1)[0]
    return re.search(r"```sh\n(.*?)```", block, re.S).group(1)


def test_the_readme_recipe_manages_your_own_dreamfactory(tmp_path: Path, local_df):
    project = copy_project(tmp_path / "project", stack_files=())
    (project / ".build").symlink_to(ROOT / ".build")  # what `make up` left in the folder
    script = recipe().replace("https://df.example.com", local_df.url).replace("ops@example.com", ADMIN_EMAIL)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PULUMI_", "DREAMFACTORY_"))}
    env["PULUMI_HOME"] = str(tmp_path / "pulumi-home")
    # What `make up` did before: the project-built command provider in the plugin cache.
    subprocess.run([str(BIN / "pulumi"), "plugin", "install", "resource", "command", "v1.2.1", "--file",
                    str(BIN / "pulumi-resource-command")], env=env, check=True, capture_output=True)
    DreamFactoryClient(ConnectionSettings(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password)).create_cors(
        {"path": "api/v2/*", "origin": "https://old.example.com", "method": ["GET"]})  # made in the admin UI

    # The password is "typed": stdin is the only thing that reads it.
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=project, env=env, text=True,
                            input=local_df.password + "\n", capture_output=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower()
    [row] = local_df.rows()  # the entry already there was adopted and converged, not duplicated
    assert (row["path"], row["origin"], row["method"]) == ("api/v2/*", "https://app.example.com", ["GET", "POST"])
    stack_file = (project / "stacks" / "Pulumi.mydf.yaml").read_text()
    assert local_df.password not in stack_file and "secure:" in stack_file
