"""The project's own shell scripts (CI, main job, lab shims) are shellcheck-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / ".ci" / "run", ROOT / "scripts" / "local-stack", ROOT / "tools" / "pulumi-cli" / "build",
           *sorted((ROOT / "tests" / "lab" / "shims").iterdir())]


def test_shell_scripts_pass_shellcheck():
    shellcheck = Path(sys.executable).with_name("shellcheck")
    result = subprocess.run([str(shellcheck), "-x", "-s", "bash", *map(str, SCRIPTS)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout


def test_certbot_step_bodies_pass_shellcheck_as_files():
    # SC2154 (variable not assigned): scripts.py assigns every value before the body; the rendered scripts are
    # checked whole, with nothing excluded, in test_certbot_scripts.py.
    shellcheck = Path(sys.executable).with_name("shellcheck")
    bodies = sorted((ROOT / "components" / "certbot" / "steps").glob("*.sh"))
    assert {path.stem for path in bodies} >= {"preamble", "firewall", "snapd", "certbot", "certificate", "renewal"}
    result = subprocess.run([str(shellcheck), "-e", "SC2154", *map(str, bodies)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
