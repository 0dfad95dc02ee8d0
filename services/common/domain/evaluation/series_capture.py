"""A capture of an engine's series at one moment, to encode later: the state lock is held only while it is taken.

`RuleEngine.capture_snapshot()` and `capture_changes()` walk the series under the caller's lock and keep, for each,
either its finished snapshot (a cached one, or one built at once) or a private frozen copy (a series whose
`snapshot()` is costly and whose live state changes in place: the compiled engine's threshold series). `finish()`
encodes the frozen copies, from any thread, while the live engine goes on: it touches nothing the engine shares.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class Frozen(Protocol):
    """A private copy of a series: its `snapshot()` is the live series' snapshot at the moment it was copied."""

    def snapshot(self) -> dict[str, Any]: ...


@dataclass
class SeriesCapture:
    """`body` is the `snapshot()` or `changes()` form, with a None in place of each frozen series until `finish()`;
    `later` holds (the rule's series dict, rule id, group key, frozen copy) for each; `add` puts one there."""

    body: dict[str, Any]
    number: int  # the engine's count of captures when this one was taken
    later: list[tuple[dict[str, Any], str, str, Frozen]] = field(default_factory=list)
    finished: bool = False

    def add(self, place: dict[str, Any], rule_id: str, key: str, frozen: Frozen) -> None:
        """Encode `frozen` at `finish()`, as the series `key` of `place` (a rule's series dict)."""
        self.later.append((place, rule_id, key, frozen))

    def finish(self) -> dict[str, Any]:
        """The body with every frozen series encoded (once; later calls return the same body)."""
        if not self.finished:
            for place, _rule_id, key, frozen in self.later:
                place[key] = frozen.snapshot()
            self.finished = True
        return self.body

    def encoded(self) -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
        """((rule id, group key), snapshot) of each series encoded by `finish()`: what the engine may cache."""
        assert self.finished, "finish() first"
        for place, rule_id, key, _frozen in self.later:
            yield (rule_id, key), place[key]
