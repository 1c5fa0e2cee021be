"""The project's own shell scripts (CI, main job, lab shims) are shellcheck-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / ".ci" / "run", ROOT / "scripts" / "local-stack", *sorted((ROOT / "tests" / "lab" / "shims").iterdir())]


def test_shell_scripts_pass_shellcheck():
    shellcheck = Path(sys.executable).with_name("shellcheck")
    result = subprocess.run([str(shellcheck), "-x", "-s", "bash", *map(str, SCRIPTS)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout
