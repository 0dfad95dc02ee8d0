"""Reading the NAB corpus (data files, labelled windows) and result directories of `timestamp,anomaly_score` files.

Timestamps stay the strings the files hold (the runner copies them verbatim); they are parsed only to place
rows in the labelled windows. Every malformed input is a `CorpusError` naming the file, row and field.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DATA_ENV = "CEP_NAB_DATA"
WINDOWS_FILE = Path("labels") / "combined_windows.json"


class CorpusError(ValueError):
    """A corpus or results file is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Series:
    """One data file: its corpus name (`category/file.csv`), verbatim timestamps and values."""

    name: str
    timestamps: list[str]
    values: list[float]


def default_root() -> Path:
    """`$CEP_NAB_DATA`, else `../shared/data/nab` next to the checkout (where the shared corpus lives)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nab"


class Corpus:
    """A NAB corpus root: `data/<category>/<file>.csv` and `labels/combined_windows.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "data").is_dir():
            raise CorpusError(f"NAB corpus root {self.root}: no data/ folder (set --data or ${DATA_ENV})")

    def names(self) -> list[str]:
        """Every data file as `category/file.csv`, sorted."""
        data = self.root / "data"
        return sorted(p.relative_to(data).as_posix() for p in data.glob("*/*.csv"))

    def series(self, name: str) -> Series:
        timestamps, values = read_columns(self.root / "data" / name, "value")
        return Series(
            name, timestamps, [_number(v, self.root / "data" / name, i, "value") for i, v in enumerate(values)]
        )

    def windows(self) -> dict[str, list[tuple[datetime, datetime]]]:
        """The labelled anomaly windows per file, as parsed (start, end) pairs."""
        path = self.root / WINDOWS_FILE
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CorpusError(f"{path}: cannot read the labelled windows: {exc}") from exc
        if not isinstance(raw, dict):
            raise CorpusError(f"{path}: expected an object mapping file names to windows")
        windows: dict[str, list[tuple[datetime, datetime]]] = {}
        for name, pairs in raw.items():
            try:
                windows[name] = [(parse_time(start), parse_time(end)) for start, end in pairs]
            except (TypeError, ValueError) as exc:
                raise CorpusError(f"{path}: windows of {name!r} are not [start, end] timestamp pairs: {exc}") from exc
        return windows


def read_columns(path: Path, column: str) -> tuple[list[str], list[str]]:
    """The `timestamp` column and one other column of a CSV file, as strings."""
    try:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or "timestamp" not in header or column not in header:
                raise CorpusError(f"{path}: header must name 'timestamp' and {column!r}, got {header}")
            at, col = header.index("timestamp"), header.index(column)
            timestamps, values = [], []
            for line, row in enumerate(reader, start=2):
                if len(row) <= max(at, col):
                    raise CorpusError(f"{path} line {line}: expected 'timestamp' and {column!r}, got {row}")
                timestamps.append(row[at])
                values.append(row[col])
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc}") from exc
    return timestamps, values


def read_scores(results: Path, name: str) -> tuple[list[str], list[float]]:
    """A results file `results/<category>/<file>.csv`: timestamps and anomaly scores (each in [0, 1])."""
    path = results / name
    if not path.is_file():
        raise CorpusError(f"{path}: missing results file for {name}")
    timestamps, raw = read_columns(path, "anomaly_score")
    scores = [_number(v, path, i, "anomaly_score") for i, v in enumerate(raw)]
    for i, score in enumerate(scores):
        if not 0.0 <= score <= 1.0:
            raise CorpusError(f"{path} line {i + 2}: anomaly_score {score} is outside [0, 1]")
    return timestamps, scores


def parse_time(text: str) -> datetime:
    """NAB timestamps: `2014-02-19 10:50:00` in the data, with `.000000` in the labels."""
    return datetime.fromisoformat(text.strip())


def _number(text: str, path: Path, index: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CorpusError(f"{path} line {index + 2}: {field} {text!r} is not a number") from None
    if value != value:
        raise CorpusError(f"{path} line {index + 2}: {field} is NaN")
    return value
