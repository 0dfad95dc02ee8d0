"""Results directories: load a detector's `<category>/<file>.csv` scores, check them against the data, score them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from services.common.nab.corpus import Corpus, CorpusError, parse_time, read_columns, read_scores
from services.common.nab.scorer import PROFILES, ProfileScore, score_corpus


def load_results(
    corpus: Corpus, results: Path, *, partial: bool = False
) -> dict[str, tuple[list[datetime], list[float]]]:
    """Every corpus file's scores from `results`, checked row by row against the data file's timestamps.

    A missing file is an error unless `partial` (then only the files present are scored, e.g. a small subset).
    """
    loaded: dict[str, tuple[list[datetime], list[float]]] = {}
    missing = []
    for name in corpus.names():
        if not (results / name).is_file():
            missing.append(name)
            continue
        stamps, scores = read_scores(results, name)
        expected, _ = read_columns(corpus.root / "data" / name, "value")
        if len(stamps) != len(expected):
            raise CorpusError(f"{results / name}: {len(stamps)} rows, the data file has {len(expected)}")
        for i, (got, want) in enumerate(zip(stamps, expected, strict=True)):
            if got != want:
                raise CorpusError(f"{results / name} line {i + 2}: timestamp {got!r}, the data file has {want!r}")
        loaded[name] = ([parse_time(s) for s in stamps], scores)
    if missing and not partial:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise CorpusError(f"{results}: {len(missing)} of {len(corpus.names())} result files missing ({shown})")
    if not loaded:
        raise CorpusError(f"{results}: no result files for any corpus file (expected <category>/<file>.csv)")
    return loaded


def score_results(corpus: Corpus, results: Path, *, partial: bool = False) -> list[ProfileScore]:
    """The three profiles' scores of one detector's results directory."""
    windows = corpus.windows()
    return score_corpus(load_results(corpus, results, partial=partial), windows, tuple(PROFILES.values()))


def detector_dirs(corpus: Corpus, results: Path) -> dict[str, Path]:
    """`results` itself when it holds category folders, else each of its subfolders that does (`run --all`)."""
    categories = {name.split("/", 1)[0] for name in corpus.names()}

    def holds_categories(folder: Path) -> bool:
        return any((folder / category).is_dir() for category in categories)

    if not results.is_dir():
        raise CorpusError(f"{results}: not a directory")
    if holds_categories(results):
        return {results.name: results}
    found = {sub.name: sub for sub in sorted(results.iterdir()) if sub.is_dir() and holds_categories(sub)}
    if not found:
        raise CorpusError(f"{results}: no <category>/<file>.csv results, nor <method>/<category>/ folders")
    return found


def format_table(rows: Sequence[tuple[str, list[ProfileScore]]]) -> str:
    """One line per detector: the normalised score (and chosen threshold) of each profile."""
    names = list(PROFILES)
    width = max([len("detector"), *(len(name) for name, _ in rows)])
    lines = ["  ".join(["detector".ljust(width), *(f"{n:>28}" for n in names)])]
    for name, scores in rows:
        by = {s.profile: s for s in scores}
        cells = [f"{by[n].normalised:8.2f} (threshold {by[n].threshold:.4g})".rjust(28) for n in names]
        lines.append("  ".join([name.ljust(width), *cells]))
    return "\n".join(lines)
