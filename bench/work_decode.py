"""Decode time of a 500-event work batch in the evaluator (`services/evaluator/work.decode_message`).

Run: PYTHONPATH=. python bench/work_decode.py [path to an older checkout, to compare]
"""

from __future__ import annotations

import importlib
import sys
import timeit
from datetime import UTC, datetime, timedelta

EVENTS = 500
ROUNDS = 200


def batch() -> bytes:
    from services.common.domain.events.model import Event
    from services.common.messages.work import work_events, work_item

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    items = [
        work_item(
            1000 + i,
            0,
            Event(
                f"e{i}",
                "acme",
                t0 + timedelta(seconds=i),
                {"host": f"h{i % 7}", "cpu": 50.0 + i % 40, "tags": ["a", "b"], "nested": {"k": i}},
                "metric",
                t0 + timedelta(seconds=i, milliseconds=5),
            ),
        )
        for i in range(EVENTS)
    ]
    return work_events(items)


def measure(root: str | None) -> float:
    if root is not None:
        sys.path.insert(0, root)
        for name in [m for m in sys.modules if m.startswith("services")]:
            del sys.modules[name]
    work = importlib.import_module("services.evaluator.work")
    data = BATCH
    items, bad = work.decode_message(7, data)
    assert len(items) == EVENTS and not bad
    return min(timeit.repeat(lambda: work.decode_message(7, data), number=ROUNDS, repeat=5)) / ROUNDS


BATCH = batch()

if __name__ == "__main__":
    now = measure(None)
    print(f"this tree:  {now * 1e3:.3f} ms per {EVENTS}-event batch ({now / EVENTS * 1e6:.2f} us per event)")
    if len(sys.argv) > 1:
        old = measure(sys.argv[1])
        print(f"older tree: {old * 1e3:.3f} ms per {EVENTS}-event batch ({old / EVENTS * 1e6:.2f} us per event)")
        print(f"ratio: {now / old:.2f}x")
