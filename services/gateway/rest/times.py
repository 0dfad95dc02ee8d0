"""Times in query strings and bodies: RFC 3339, read as UTC, a 422 naming the field when out of range."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from services.common.domain.events.model import in_time_range

# A time a caller sends, as UTC. Times UTC cannot hold (`9999-12-31T23:59:59-12:00`) or too near datetime's
# limits for date arithmetic are refused by validation, before any route, store or SQL binding sees them.
UtcTime = Annotated[datetime, AfterValidator(in_time_range)]
