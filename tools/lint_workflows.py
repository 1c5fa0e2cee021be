"""Lint .github/workflows with actionlint (the kjanat build: it knows action runtimes and nested-job permissions).

External actions are pinned to commits (`owner/repo@<40 hex>  # vX.Y.Z`), which the linter cannot map to a
runtime without the network. So each pin must carry its release in a comment, and the linter checks a copy of
the workflows in which every pin is replaced by that release's major tag (`owner/repo@vX`), whose runtime it
knows: a pin to a Node 20 release fails here as an unpinned `@v4` would.

    python -m tools.lint_workflows [WORKFLOW_DIR]     exit 0 when clean, 1 with the findings otherwise
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
USES = re.compile(r"(?P<lead>\s*(?:-\s+)?uses:\s*)(?P<action>[^\s@#]+)@(?P<ref>[^\s#]+)(?P<rest>.*)")
PINNED = re.compile(r"[0-9a-f]{40}")
RELEASE_COMMENT = re.compile(r"#\s*(v\d+)(?:\.\d+){0,2}\b")


def pin_problems(text: str, name: str) -> list[str]:
    """Every external `uses:` must be a commit pin with its release in a comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES.match(line)
        if not match or match["action"].startswith("./"):
            continue
        if not PINNED.fullmatch(match["ref"]):
            problems.append(f"{name}:{number}: {match['action']}@{match['ref']} is not pinned to a commit; "
                            "use the release's full commit SHA with '# vX.Y.Z' after it")
        elif not RELEASE_COMMENT.search(match["rest"]):
            problems.append(f"{name}:{number}: {match['action']}@{match['ref']} has no '# vX.Y.Z' comment naming "
                            "the release it pins")
    return problems


def as_major_tags(text: str) -> str:
    """The same workflow with each commit pin replaced by its release's major tag, for the runtime check."""
    def replace(line: str) -> str:
        match = USES.match(line)
        release = RELEASE_COMMENT.search(match["rest"]) if match else None
        if not match or not release or not PINNED.fullmatch(match["ref"]):
            return line
        return f"{match['lead']}{match['action']}@{release.group(1)}"
    return "\n".join(replace(line) for line in text.splitlines()) + "\n"


def lint(workflows: Path, actionlint: Optional[str] = None) -> tuple[int, str]:
    """(exit code, findings) for the workflows in ``workflows``."""
    actionlint = actionlint or shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    findings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lint-workflows-") as scratch:
        project = Path(scratch)
        (project / ".git").mkdir()  # actionlint finds the project (and ./.github/workflows calls) by it
        copy = project / ".github" / "workflows"
        copy.mkdir(parents=True)
        for workflow in sorted(workflows.glob("*.y*ml")):
            text = workflow.read_text()
            findings += pin_problems(text, workflow.name)
            (copy / workflow.name).write_text(as_major_tags(text))
        result = subprocess.run([actionlint, "-no-color"], cwd=project, text=True, capture_output=True)
        if result.returncode:
            findings.append((result.stdout + result.stderr).strip())
    return (1 if findings else 0), "\n".join(findings)


def main(argv: list[str]) -> int:
    workflows = Path(argv[0]) if argv else ROOT / ".github" / "workflows"
    code, findings = lint(workflows)
    print(findings or f"workflows in {workflows}: actionlint clean, every action pinned to a commit")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
