"""Compare-and-set saves of state kept in a KV bucket: the one retry loop a batch's stage states are saved with.

A save names the revision it read; another writer (a notifier replica) that got there first makes it fail. The
batch's changes are then applied again to the state as it is now, and the save tried again. A state that keeps
changing raises KeptChanging: the alerts of the batch are not acked, so they come back and are planned again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nats.js.errors import KeyWrongLastSequenceError

SAVE_TRIES = 5
State = TypeVar("State")


class KeptChanging(RuntimeError):
    """Every try of a compare-and-set save met a newer revision."""


async def save_with_retries(
    save: Callable[[State, int | None], Awaitable[Any]],
    reload: Callable[[], Awaitable[tuple[State, int | None]]],
    state: State,
    revision: int | None,
    what: str,
) -> None:
    """Save `state` over `revision`, SAVE_TRIES times at most.

    After a conflict, `reload` reads the state again and applies the batch's changes to it. After the last
    conflict, KeptChanging names `what`.
    """
    for tried in range(1, SAVE_TRIES + 1):
        try:
            await save(state, revision)
            return
        except KeyWrongLastSequenceError:
            if tried < SAVE_TRIES:
                state, revision = await reload()
    raise KeptChanging(f"{what} kept changing; the batch comes back")
