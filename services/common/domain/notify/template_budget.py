"""What one template render may spend and has spent: loop iterations, value and output sizes, depth, a deadline.

The sandbox (template_sandbox.py) charges every loop iteration, built value and output write to the render's
`Budget`; past a limit it raises `OverBudget`, naming the limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from services.common.domain.notify.template_sizes import SizeCache, Sized, measure, size_of

_PAUSE_EVERY = 0.001  # seconds of rendering between two chances for other threads to run


class OverBudget(Exception):
    """A render went past one of its limits; the message names the limit."""


@dataclass(frozen=True)
class Limits:
    """What one render may spend."""

    iterations: int  # loop iterations, all loops together
    output: int  # characters of output (of the whole text, and of any block or macro's)
    value: int  # size of any string or container built (see template_sizes.size_of)
    sequence: int  # longest string or list built with `*`
    depth: int  # calls within calls (a macro calling itself)
    seconds: float  # wall-clock time


class Budget:
    """What one render has spent so far."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds  # a deadline is wall-clock time by nature
        self.pause_at = time.monotonic() + _PAUSE_EVERY
        self.iterations = 0
        self.depth = 0
        self.sizes = SizeCache(2 * limits.value)

    def measure(self, value: Any) -> Sized:
        """A value's size and depth (containers measured before in this render are not walked again)."""
        return measure(value, self.limits.value, self.sizes)

    def size(self, value: Any) -> int:
        """A value's size (see template_sizes.size_of)."""
        return size_of(value, self.limits.value, self.sizes)

    def remember(self, value: Any, size: int, depth: int) -> None:
        """Note the size of a container just built from measured parts, so it is not walked when used."""
        if isinstance(value, list | tuple):
            self.sizes.put(value, min(size, self.limits.value + 1), depth)

    def tick(self) -> None:
        """Stop the render once its time is up; now and then, let other threads run."""
        now = time.monotonic()
        if now > self.deadline:
            raise OverBudget(f"render took longer than {self.limits.seconds:g} s")
        if now > self.pause_at:
            # A render thread holds the GIL for 5 ms at a time; the event loop needs it dozens of times per
            # request. Giving it up every millisecond keeps the loop's answers fast while a template runs.
            time.sleep(0)
            self.pause_at = now + _PAUSE_EVERY

    def iteration(self) -> None:
        """Count one loop iteration."""
        self.iterations += 1
        if self.iterations > self.limits.iterations:
            raise OverBudget(f"template exceeded its budget of {self.limits.iterations} loop iterations")
        self.tick()

    def value(self, size: int) -> None:
        """Refuse a value of this size (before it is built, where possible)."""
        if size > self.limits.value:
            raise OverBudget(f"a value larger than {self.limits.value} characters or items")

    def output(self, size: int) -> None:
        """Refuse output of this size."""
        if size > self.limits.output:
            raise OverBudget(f"output larger than {self.limits.output} characters")


def counted(items: Iterator[Any], budget: Budget) -> Iterator[Any]:
    """The items, each charged to the budget as one loop iteration."""
    for item in items:
        budget.iteration()
        yield item


class OutputBuffer(list[str]):
    """The buffer of a macro, block or `{% set %}` body: refuses to grow past the output limit."""

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self._budget = budget
        self._size = 0

    def _count(self, item: str) -> None:
        self._size += len(item)
        self._budget.output(self._size)
        self._budget.tick()

    def append(self, item: str) -> None:
        self._count(item)
        super().append(item)

    def extend(self, items: Iterable[str]) -> None:
        written = tuple(items)
        for item in written:
            self._count(item)
        super().extend(written)
