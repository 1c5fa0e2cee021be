"""The double's ``cors_config`` table, with the two lookups DreamFactory does on every request kept indexed.

Every write checks the unique ``path`` (a database index does that in O(log N)) and every request runs the CORS
middleware, which needs the entries whose path may match. Scanning every row for each made the double's cost per
request grow with the table, so an engine benchmark at 5,000 entries measured the double rather than the provider.
"""

from __future__ import annotations

from typing import Optional, ValuesView


def literal_prefix(pattern: str) -> str:
    """What every path a glob pattern matches starts with: the text before its first ``*`` (all of it if none)."""
    return pattern.split("*", 1)[0]


class CorsTable:
    """Rows by id, in id order (ids only grow, and an update keeps a row's place), plus the indexes."""

    def __init__(self) -> None:
        self._rows: dict[int, dict] = {}
        self._ids_by_folded_path: dict[str, set[int]] = {}
        self._glob_ids_by_prefix: dict[str, set[int]] = {}
        self._regex_ids: set[int] = set()  # paths starting with '^' are also tried as regular expressions

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    def __getitem__(self, row_id: int) -> dict:
        return self._rows[row_id]

    def get(self, row_id: int) -> Optional[dict]:
        return self._rows.get(row_id)

    def values(self) -> ValuesView[dict]:
        return self._rows.values()

    def put(self, row: dict) -> None:
        """Insert ``row``, or replace the row with its id in its place (rows are replaced, never changed in place)."""
        replaced = self._rows.get(row["id"])
        if replaced is not None:
            self._unindex(replaced)
        self._rows[row["id"]] = row
        self._ids_by_folded_path.setdefault(row["path"].lower(), set()).add(row["id"])
        self._index_for(row["path"]).add(row["id"])

    def pop(self, row_id: int) -> Optional[dict]:
        row = self._rows.pop(row_id, None)
        if row is not None:
            self._unindex(row)
        return row

    def clear(self) -> None:
        for row_id in list(self._rows):
            self.pop(row_id)

    def ids_with_path(self, path: str, ignore_case: bool) -> list[int]:
        """Ids of the rows whose path is ``path`` (or equal but for case, when ``ignore_case``)."""
        ids = self._ids_by_folded_path.get(path.lower(), set())
        return sorted(row_id for row_id in ids if ignore_case or self._rows[row_id]["path"] == path)

    def middleware_candidates(self, subject: str) -> list[dict]:
        """The rows, in id order, whose path may match ``subject``: globs whose literal prefix starts it, and
        every regular expression. A superset: the caller still matches each one."""
        ids = set(self._regex_ids)
        for end in range(len(subject) + 1):
            ids.update(self._glob_ids_by_prefix.get(subject[:end], ()))
        return [self._rows[row_id] for row_id in sorted(ids)]

    def _unindex(self, row: dict) -> None:
        self._ids_by_folded_path[row["path"].lower()].discard(row["id"])
        self._index_for(row["path"]).discard(row["id"])

    def _index_for(self, path: str) -> set[int]:
        if path.startswith("^"):
            return self._regex_ids
        return self._glob_ids_by_prefix.setdefault(literal_prefix(path), set())
