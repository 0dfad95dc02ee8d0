"""Label sets as Alertmanager holds them: empty values dropped, names checked, and the fingerprint it reports.

A label with an empty value is the same as no label at all (Alertmanager drops such labels from posted alerts,
and a matcher reads a missing label as the empty string), so `normalize` removes them before anything else.
The fingerprint is Prometheus' 64-bit FNV-1a hash over the sorted names, each name and value followed by the
byte 0xFF (a byte no UTF-8 text contains), printed as 16 hex digits: the `fingerprint` of `GET /api/v2/alerts`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

LabelSet = Mapping[str, str]

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1
_SEPARATOR = b"\xff"


def is_valid_name(name: str) -> bool:
    """Whether a label name is valid in Prometheus' classic syntax (`[a-zA-Z_][a-zA-Z0-9_]*`)."""
    return _NAME.fullmatch(name) is not None


def normalize(labels: LabelSet) -> dict[str, str]:
    """The label set without its empty-valued labels, as Alertmanager stores a posted alert's labels."""
    return {name: value for name, value in labels.items() if value != ""}


def fingerprint(labels: LabelSet) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted `name 0xFF value 0xFF`, in hex."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for byte in name.encode() + _SEPARATOR + labels[name].encode() + _SEPARATOR:
            digest = ((digest ^ byte) * _FNV_PRIME) & _MASK
    return f"{digest:016x}"


def label_set_text(labels: LabelSet) -> str:
    """Alertmanager's label set text: `{alertname="x", host="a"}` (names sorted, values quoted), as its group keys
    write a group's labels."""
    inner = ", ".join(f"{name}={json.dumps(labels[name], ensure_ascii=False)}" for name in sorted(labels))
    return "{" + inner + "}"
