"""Template work off the event loop: renders run in a small pool of worker threads, so a service keeps serving.

A render stops itself when its budget runs out (services/common/domain/notify/templates.py: at most a second), but until
then it holds a CPU: on the event loop it would stall every other client of the gateway or the notifier. Every
async caller that renders, previews or save-checks a template goes through `off_loop`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Renders are CPU-bound Python: threads beyond the machine's cores only wait for the GIL. A pool of its own keeps
# slow templates from filling the loop's default executor, which other work (the database) needs.
WORKERS = 2


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="template")


async def off_loop(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(*args, **kwargs)` (a render, a preview, a save check) in the template pool; the loop serves others."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), functools.partial(func, *args, **kwargs))
