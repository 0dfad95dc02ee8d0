"""Open SSE streams per tenant on this gateway replica, for the `sse_streams` quota.

Each stream holds its tenant's place from before its response starts until the response ends, however it ends
(the client leaves, the server stops, an error), so the count never leaks. Replicas do not share counts: with N
replicas behind a load balancer a tenant may hold up to N x its quota.
"""

from __future__ import annotations

from collections.abc import Callable


class StreamSlots:
    """The open streams of each tenant in this process."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def open(self, tenant: str) -> int:
        """How many streams the tenant has open here."""
        return self._open.get(tenant, 0)

    def take(self, tenant: str, limit: int) -> Callable[[], None] | None:
        """Take a place under `limit`: the function that gives it back (once, however often called), or None."""
        if self.open(tenant) >= limit:
            return None
        self._open[tenant] = self.open(tenant) + 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if given_back:
                return
            given_back = True
            left = self.open(tenant) - 1
            if left > 0:
                self._open[tenant] = left
            else:
                self._open.pop(tenant, None)

        return give_back
