"""Run the local DreamFactory double: ``python -m local_dreamfactory --port 8080``.

The admin password is read from the environment (``LOCAL_DF_ADMIN_PASSWORD``), never from the
command line, where any user of the machine could read it in the process list. ``LOCAL_DF_INSTANCE_ID``, when
set, is answered at ``/_local/instance``, so that ``make up`` can tell its own server from another listener.
"""

from __future__ import annotations

import argparse
import os
import sys

from .server import LocalDreamFactory
from .state import DreamFactoryState


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_dreamfactory", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--admin-email", default="admin@example.com")
    parser.add_argument("--data-file", help="keep the CORS table in this JSON file across restarts")
    parser.add_argument("--port-file", help="write the chosen port to this file once listening")
    parser.add_argument("--test-controls", action="store_true", help="enable the /_test/ controls (tests only)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    password = os.environ.get("LOCAL_DF_ADMIN_PASSWORD")
    if not password:
        parser.error("set LOCAL_DF_ADMIN_PASSWORD to the admin password the server should accept")
    state = DreamFactoryState(admins={args.admin_email: password}, data_file=args.data_file)
    state.load()
    server = LocalDreamFactory(state, host=args.host, port=args.port, test_controls=args.test_controls,
                               verbose=args.verbose, instance_id=os.environ.get("LOCAL_DF_INSTANCE_ID"))
    if args.port_file:
        with open(args.port_file, "w", encoding="utf-8") as handle:
            handle.write(f"{server.server_address[1]}\n")
    print(f"local DreamFactory listening on {server.url} (admin {args.admin_email})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
