"""A shard snapshot's JSON, re-encoding only the series changed since the previous snapshot.

The engine hands back the very same dict for a series that has not changed since its last snapshot (its cache in
`rule_engine.py`), so the encoder keeps each series' JSON next to that dict and reuses it while the engine's dict
is the same object: a snapshot costs one `dumps` per changed series and a join of bytes for the others, instead
of encoding every series every time. The output is the JSON `ShardSnapshot.encode` compresses: byte for byte
what `codec.dumps` gives for the same body (the test of this module holds it to that).
"""

from __future__ import annotations

from typing import Any

from services.common.messages import codec

SeriesKey = tuple[str, str]  # (rule id, group key)


class SnapshotEncoder:
    """Encodes `{"seq", "rules", "engine", "raw_done"}` with the series' JSON cached between calls."""

    def __init__(self) -> None:
        self._series: dict[SeriesKey, tuple[dict[str, Any], bytes]] = {}
        self.reused = 0  # series taken from the cache by the latest `encode`
        self.encoded = 0  # series encoded anew by it

    def encode(self, seq: int, rules: list[dict[str, Any]], engine: dict[str, Any], raw_done: tuple[int, int]) -> bytes:
        """The snapshot body as compact JSON; series gone since the previous call are forgotten."""
        kept: dict[SeriesKey, tuple[dict[str, Any], bytes]] = {}
        self.reused = self.encoded = 0
        entries = []
        for rule_id, entry in engine["rules"].items():
            series = b",".join(self._one(kept, rule_id, key, data) for key, data in entry["series"].items())
            head = codec.dumps({k: v for k, v in entry.items() if k != "series"})
            body = head[:-1] + (b"," if len(head) > 2 else b"") + b'"series":{' + series + b"}}"
            entries.append(codec.dumps(rule_id) + b":" + body)
        self._series = kept
        others = {k: v for k, v in engine.items() if k != "rules"}
        engine_head = codec.dumps(others)
        engine_json = engine_head[:-1] + (b"," if len(engine_head) > 2 else b"") + b'"rules":{' + b",".join(entries)
        return b"".join(
            [
                b'{"seq":',
                codec.dumps(seq),
                b',"rules":',
                codec.dumps(rules),
                b',"engine":',
                engine_json,
                b'}},"raw_done":',
                codec.dumps(list(raw_done)),
                b"}",
            ]
        )

    def _one(self, kept: dict[SeriesKey, tuple[dict[str, Any], bytes]], rule_id: str, key: str, data: Any) -> bytes:
        cached = self._series.get((rule_id, key))
        if cached is not None and cached[0] is data:
            self.reused += 1
            encoded = cached[1]
        else:
            self.encoded += 1
            encoded = codec.dumps(data)
        kept[rule_id, key] = (data, encoded)
        return codec.dumps(key) + b":" + encoded
