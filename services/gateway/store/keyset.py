"""Keyset pagination predicates: rows strictly after a (timestamp, id) sort key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


def after(at_column: Any, id_column: Any, at: datetime, ident: str) -> ColumnElement[bool]:
    """`(at_column, id_column) > (at, ident)`, spelled out (row-value comparison is not portable)."""
    return or_(at_column > at, and_(at_column == at, id_column > ident))
