"""Run inside a lab host's network namespace by ``bench`` (``host_health``): time the health provider's read.

Reads the provider's properties as JSON on stdin and prints the timings as JSON: one host read 10 times, then 20
reads one after another (how the engine's serial Check calls reach a preview of 20 hosts) and 20 at once.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from components.certbot.health_provider import HostHealthProvider


def main() -> None:
    props = json.load(sys.stdin)
    provider = HostHealthProvider()

    def read(_: int = 0) -> None:
        assert provider.read("bench", props).outs["problems"] == []

    singles = []
    for _ in range(10):
        started = time.perf_counter()
        read()
        singles.append(time.perf_counter() - started)
    started = time.perf_counter()
    for index in range(20):
        read(index)
    serial = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(read, range(20)))
    concurrent = time.perf_counter() - started
    json.dump({"single": statistics.median(singles), "slowest": max(singles), "serial": serial,
               "concurrent": concurrent}, sys.stdout)


if __name__ == "__main__":
    main()
