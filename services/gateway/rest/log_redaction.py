"""Request logs never show credentials: the values of `access_token` and `ticket` query parameters are redacted.

The gateway runs uvicorn with its access log off, but an operator may turn it on (or serve the app another way),
and `GET /cep/events/stream?access_token=...` would then write an API token into every log line. The filter
rewrites uvicorn's access-log records (and any record on the loggers it is installed on) before they are output.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMETERS = ("access_token", "ticket")
REDACTED = "[redacted]"
_SECRET_VALUE = re.compile(r"([?&](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&#\s\"']*", re.IGNORECASE)
REQUEST_LOGGERS = ("uvicorn.access",)


def redact_query(text: str) -> str:
    """`text` with the value of every secret query parameter replaced by `[redacted]`."""
    return _SECRET_VALUE.sub(rf"\1{REDACTED}", text)


class QueryRedaction(logging.Filter):
    """Redacts secret query values in a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_redaction(names: tuple[str, ...] = REQUEST_LOGGERS) -> None:
    """Put the filter on the request loggers (once, however many apps are built in the process)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryRedaction) for f in logger.filters):
            logger.addFilter(QueryRedaction())
