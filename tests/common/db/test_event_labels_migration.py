"""Migration 0009 on a database with events: the old rows read back with no labels and no annotations."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from services.common.db.migrate import upgrade

_ROW = {
    "event_id": "e1", "tenant": "t", "rule_id": "r", "rule_name": "r", "rule_version": 1, "trigger_type": "metric",
    "severity": "high", "priority": "P3", "status": "open", "fingerprint": "f", "group_key": "",
    "fired_at": "2026-01-01 00:00:00", "last_seen": "2026-01-01 00:00:00", "count": 1, "summary": "s",
    "payload": "{}", "explanation": "[]", "notifications": "[]", "history": "[]",
}  # fmt: skip


def test_events_recorded_before_labels_get_empty_ones(tmp_path: Path) -> None:
    path = tmp_path / "cep.db"
    upgrade(f"sqlite:///{path}", "0008_tenant_quotas")
    with sqlite3.connect(path) as connection:
        names = ", ".join(_ROW)
        connection.execute(f"INSERT INTO events ({names}) VALUES ({', '.join('?' * len(_ROW))})", list(_ROW.values()))
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        labels, annotations = connection.execute("SELECT labels, annotations FROM events").fetchone()
    assert (json.loads(labels), json.loads(annotations)) == ({}, {})
