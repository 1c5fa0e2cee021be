"""Lint .github/workflows with actionlint (the kjanat build: it knows action runtimes and nested-job permissions).

External actions are pinned to commits (`owner/repo@<40 hex>  # vX.Y.Z`), which the linter cannot map to a
runtime without the network. So each pin must carry its release in a comment, and the linter checks a copy of
the workflows in which every pin is replaced by that release's major tag (`owner/repo@vX`), whose runtime it
knows: a pin to a Node 20 release fails here as an unpinned `@v4` would.

It also enforces the trust model of pull-request previews (README "Trust model"), which no linter knows:
- no secret in a workflow's or job's `env` (every step, `make venv` running the branch's requirements included,
  would see it): secrets go on the step that uses them;
- a workflow run on `pull_request` names no deploy secret and never passes `secrets: inherit` (a reusable workflow
  sees only the secrets its caller passes, so the callers are where this is decided); `pull_request_target` is
  refused;
- a reusable workflow run by both previews and deploys puts `inputs.command` in its concurrency group, so a preview
  never cancels a deploy waiting for its reviewer.

    python -m tools.lint_workflows [WORKFLOW_DIR]     exit 0 when clean, 1 with the findings otherwise
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

import yaml

ROOT = Path(__file__).resolve().parents[1]
USES = re.compile(r"(?P<lead>\s*(?:-\s+)?uses:\s*)(?P<action>[^\s@#]+)@(?P<ref>[^\s#]+)(?P<rest>.*)")
PINNED = re.compile(r"[0-9a-f]{40}")
RELEASE_COMMENT = re.compile(r"#\s*(v\d+)(?:\.\d+){0,2}\b")
# Secrets that can change production: only deploy jobs may name them.
DEPLOY_SECRETS = ("SSH_DEPLOY_KEYS", "SSH_PRIVATE_KEY", "DREAMFACTORY_PASSWORD", "DREAMFACTORY_SESSION_TOKEN",
                  "DREAMFACTORY_API_KEY")
SECRET_REFERENCE = re.compile(r"secrets\.([A-Za-z0-9_]+)")


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


def _triggers(document: dict[str, Any]) -> set[str]:
    on = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` key as True
    if isinstance(on, str):
        return {on}
    return set(on or ())


def _local_calls(document: dict[str, Any]) -> set[str]:
    jobs = document.get("jobs") or {}
    return {Path(job["uses"]).name for job in jobs.values()
            if isinstance(job, dict) and str(job.get("uses", "")).startswith("./.github/workflows/")}


def trust_problems(workflows: Path) -> list[str]:
    """The trust model's rules (module docstring), on the workflow files as written."""
    texts = {path.name: path.read_text() for path in sorted(workflows.glob("*.y*ml"))}
    documents = {name: yaml.safe_load(text) or {} for name, text in texts.items()}
    problems = []
    preview_path, deploy_path = set(), set()
    for name, document in documents.items():
        triggers = _triggers(document)
        if "pull_request_target" in triggers:
            problems.append(f"{name}: pull_request_target runs with the base repository's secrets; use pull_request")
        if "pull_request" in triggers:
            preview_path |= {name, *_local_calls(document)}
        elif "workflow_call" not in triggers:
            deploy_path |= {name, *_local_calls(document)}
        scopes = [("workflow", document)] + [(f"job {job}", spec) for job, spec in (document.get("jobs") or {}).items()
                                             if isinstance(spec, dict)]
        for scope, spec in scopes:
            named = SECRET_REFERENCE.findall(yaml.safe_dump(spec.get("env") or {}))
            if named:
                problems.append(f"{name}: {scope} env holds secrets ({', '.join(named)}); every step would see them; "
                                "put each on the step that uses it")
    for name in sorted(name for name, document in documents.items() if "pull_request" in _triggers(document)):
        if re.search(r"secrets:\s*inherit", texts[name]):
            problems.append(f"{name}: secrets: inherit on the preview path hands every secret to the pull request's "
                            "code; pass the health key and the backend credentials by name")
        for secret in sorted(set(SECRET_REFERENCE.findall(texts[name])) & set(DEPLOY_SECRETS)):
            problems.append(f"{name}: the preview path references the deploy secret {secret}; a pull request's "
                            "preview may hold only the health key and the backend credentials")
    for name in sorted(preview_path & deploy_path):
        for job, spec in (documents[name].get("jobs") or {}).items():
            group = str(((spec or {}).get("concurrency") or {}).get("group", "")) if isinstance(spec, dict) else ""
            if group and "inputs.command" not in group:
                problems.append(f"{name}: job {job}'s concurrency group {group!r} is shared by previews and deploys; "
                                "a preview would cancel a deploy waiting for its reviewer; add ${{ inputs.command }}")
    return problems


def lint(workflows: Path, actionlint: Optional[str] = None) -> tuple[int, str]:
    """(exit code, findings) for the workflows in ``workflows``."""
    actionlint = actionlint or shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    findings: list[str] = trust_problems(workflows)
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
