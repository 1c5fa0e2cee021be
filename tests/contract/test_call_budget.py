"""The API-call budget at scale, through the real plugin: exactly the minimum for every operation."""

from __future__ import annotations

from bench.call_budget import OPERATIONS, count_calls, minimum, preflights
from tests.support.local_df import ADMIN_EMAIL
from tests.support.plugin import Plugin, captured_provider


def test_every_operation_costs_the_minimum_and_one_login_per_process(local_df_server):
    plugin = Plugin(captured_provider(), {"dreamfactory:url": local_df_server.url, "dreamfactory:email": ADMIN_EMAIL,
                                          "dreamfactory:password": local_df_server.password})
    try:
        counts = count_calls(plugin, local_df_server, 25)
    finally:
        plugin.close()
    assert {op: counts[op]["requests"] for op in OPERATIONS} == {op: minimum(op, 25) for op in OPERATIONS}
    assert {op: counts[op]["preflights"] for op in OPERATIONS} == {op: preflights(op, 25) for op in OPERATIONS}
    assert sum(counts[op]["logins"] for op in OPERATIONS) == 1
