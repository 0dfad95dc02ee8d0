"""`cep nab run` and `cep nab score` as subprocesses on a two-file copy of the corpus."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.common.nab.corpus import Corpus, CorpusError, default_root
from services.common.nab.detector_runner import SHIPPED

FILES = ["realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv", "realTraffic/speed_7578.csv"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus root holding two real NAB files and their labelled windows."""
    try:
        source = Corpus(default_root()).root
    except CorpusError as exc:
        pytest.skip(f"the NAB corpus is not on this machine: {exc}")
    root = tmp_path_factory.mktemp("nab")
    for name in FILES:
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / "data" / name, root / "data" / name)
    windows = json.loads((source / "labels" / "combined_windows.json").read_text())
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps({n: windows[n] for n in FILES}))
    return root


def cep(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.common.cli.main", "nab", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_run_one_method_writes_one_score_per_input_row_with_verbatim_timestamps(
    small_corpus: Path, tmp_path: Path
) -> None:
    done = cep("run", "--method", "zscore", "--out", tmp_path, "--data", small_corpus)
    assert done.returncode == 0, done.stderr
    assert "zscore: 2 files" in done.stdout and "rows/s" in done.stdout
    for name in FILES:
        data, out = rows(small_corpus / "data" / name), rows(tmp_path / name)
        assert out[0] == ["timestamp", "anomaly_score"]
        assert len(out) == len(data)
        assert [r[0] for r in out[1:]] == [r[0] for r in data[1:]]
        scores = [float(r[1]) for r in out[1:]]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores[0] == 0.0  # no baseline yet
        assert max(scores) > 0.5  # something stood out somewhere

    scored = cep("score", tmp_path, "--data", small_corpus)
    assert scored.returncode == 0, scored.stderr
    header, line = scored.stdout.splitlines()
    assert header.split()[1:] == ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
    assert line.split()[0] == tmp_path.name and "threshold" in line


@pytest.mark.slow  # 6-30 s: `make test-slow` keeps `make test` under 10 minutes
def test_run_all_with_limit_writes_a_folder_per_method_and_score_reads_them_all(
    small_corpus: Path, tmp_path: Path
) -> None:
    done = cep("run", "--all", "--limit", "1", "--out", tmp_path, "--data", small_corpus)
    assert done.returncode == 0, done.stderr
    assert "hbos: 1 files" in done.stdout and "s per 1,000 rows" in done.stdout
    for method in SHIPPED:
        assert [p.relative_to(tmp_path / method).as_posix() for p in (tmp_path / method).rglob("*.csv")] == FILES[:1]
    refused = cep("score", tmp_path, "--data", small_corpus)
    assert refused.returncode == 2
    assert "1 of 2 result files missing" in refused.stderr
    scored = cep("score", tmp_path, "--partial", "--data", small_corpus)
    assert scored.returncode == 0, scored.stderr
    assert [line.split()[0] for line in scored.stdout.splitlines()[1:]] == sorted(SHIPPED)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--method", "zscore", "--files", "nope/x.csv"], "--files: not in the corpus: nope/x.csv"),
        (["run", "--method", "zscore", "--limit", "0"], "--limit must be at least 1"),
        (["score", "/nonexistent/results"], "/nonexistent/results: not a directory"),
    ],
)
def test_bad_arguments_are_refused_naming_them(
    small_corpus: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    done = cep(
        *args,
        "--out" if args[0] == "run" else "--partial",
        *([tmp_path] if args[0] == "run" else []),
        "--data",
        small_corpus,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_a_missing_corpus_is_named(tmp_path: Path) -> None:
    done = cep("run", "--method", "zscore", "--out", tmp_path, "--data", tmp_path / "no-corpus")
    assert done.returncode == 2
    assert "no data/ folder" in done.stderr
