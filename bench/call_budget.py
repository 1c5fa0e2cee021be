"""HTTP requests per provider operation, counted on the local DreamFactory double's request log."""

from __future__ import annotations

from tests.support.local_df import LocalDreamFactoryHandle
from tests.support.plugin import Plugin

OPERATIONS = ("create", "diff (no change)", "update", "read (refresh)", "delete")


def entry(index: int, max_age: int = 60) -> dict:
    return {"path": f"api/v2/bench{index}/*", "origins": ["https://app.example.com"], "methods": ["GET"],
            "max_age": max_age}


def minimum(operation: str, n: int) -> int:
    """The least any client could do: one write per changed entry, one GET per read, nothing for a no-op diff."""
    return 0 if operation == "diff (no change)" else n


def preflights(operation: str, n: int) -> int:
    """One browser-style preflight per entry after create, update and read (verify_preflight), none otherwise."""
    return n if operation in ("create", "update", "read (refresh)") else 0


def count_calls(plugin: Plugin, local_df: LocalDreamFactoryHandle, n: int) -> dict[str, dict[str, int]]:
    """Run every operation over ``n`` entries through the plugin; requests per operation, logins apart."""
    local_df.reset()
    counts: dict[str, dict[str, int]] = {}
    states: dict[str, tuple[str, dict]] = {}

    def measure(operation: str, run) -> None:
        local_df.clear_log()
        for index in range(n):
            run(index)
        log = local_df.requests_log()
        logins = sum(1 for r in log if r["path"] == "system/admin/session")
        preflights = sum(1 for r in log if r["method"] == "OPTIONS")
        counts[operation] = {"requests": len(log) - logins - preflights, "logins": logins, "preflights": preflights}

    def create(index: int) -> None:
        inputs, _ = plugin.check(f"e{index}", entry(index))
        states[f"e{index}"] = plugin.create(f"e{index}", inputs)

    def diff(index: int) -> None:
        entry_id, state = states[f"e{index}"]
        inputs, _ = plugin.check(f"e{index}", entry(index), olds=state)
        plugin.diff(f"e{index}", entry_id, state, {**inputs, "__provider": plugin.provider})

    def update(index: int) -> None:
        entry_id, state = states[f"e{index}"]
        inputs, _ = plugin.check(f"e{index}", entry(index, max_age=120), olds=state)
        states[f"e{index}"] = (entry_id, plugin.update(f"e{index}", entry_id, state, inputs))

    def read(index: int) -> None:
        entry_id, state = states[f"e{index}"]
        plugin.read(f"e{index}", entry_id, state)

    def delete(index: int) -> None:
        entry_id, state = states[f"e{index}"]
        plugin.delete(f"e{index}", entry_id, state)

    for operation, run in zip(OPERATIONS, (create, diff, update, read, delete)):
        measure(operation, run)
    return counts
