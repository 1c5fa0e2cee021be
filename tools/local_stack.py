"""Run `pulumi up` / `pulumi destroy` on the `local` stack through the Automation API.

The program runs in this process (the Automation API's in-process language host, `--client`), so any Pulumi
CLI works, including the one `tools/pulumi-cli/build` makes, which has no Python language host beside it.
`scripts/local-stack` (`make up` / `make down`) sets the environment: local file backend, passphrase, the
local DreamFactory's password.

    python -m tools.local_stack up|down --cli /path/to/bin/pulumi
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path
from typing import Optional

from pulumi import automation as auto

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "dreamfactory-infra"
# The `local` stack's passphrase: its encryptionsalt in stacks/Pulumi.local.yaml was made with it. It guards
# nothing but a throwaway local password, so it is not a secret; other stacks use their own.
LOCAL_PASSPHRASE = "local-stack-only"


def open_stack(cli: Path, work_dir: Path = ROOT, env: Optional[dict[str, str]] = None,
               pulumi_home: Optional[str] = None) -> auto.Stack:
    """The `local` stack of the project in ``work_dir``, its program run in this process."""
    environment = {
        # The in-process language host does not hand Pulumi.yaml's virtualenv to the dynamic-provider
        # launcher, so name the interpreter; and find the launcher next to the CLI.
        "PULUMI_PYTHON_CMD": str(work_dir / ".venv" / "bin" / "python"),
        "PATH": f"{cli.parent}:{os.environ.get('PATH', '')}",
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE),
        **(env or {}),
    }
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir), pulumi_home=pulumi_home, env_vars=environment, secrets_provider="passphrase",
        pulumi_command=auto.PulumiCommand(root=str(cli.parent.parent), skip_version_check=True),
    )
    return auto.create_or_select_stack("local", project_name=PROJECT,
                                       program=lambda: runpy.run_path(str(work_dir / "__main__.py")), opts=options)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_stack", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--cli", type=Path, required=True, help="the pulumi executable to use")
    args = parser.parse_args(argv)
    stack = open_stack(args.cli.resolve())
    try:
        if args.action == "up":
            result = stack.up(on_output=print, diff=False)
            print(f"entry ids: {result.outputs['corsEntryIds'].value}")
        else:
            stack.destroy(on_output=print)
    except auto.CommandError as exc:
        print(f"pulumi {args.action} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
