"""Rule-to-shard assignment: stable across processes and evenly spread."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from services.common.domain.evaluation.sharding import shard_for


def test_every_id_lands_in_range_and_the_same_place_every_time() -> None:
    for shards in (1, 2, 7, 64):
        for n in range(200):
            shard = shard_for(f"rule-{n}", shards)
            assert 0 <= shard < shards and shard == shard_for(f"rule-{n}", shards)


def test_stable_across_processes() -> None:
    code = (
        "from services.common.domain.evaluation.sharding import shard_for; "
        "print([shard_for(f'r{n}', 16) for n in range(50)])"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"}
    )
    assert other.stdout.strip() == str([shard_for(f"r{n}", 16) for n in range(50)])


def test_spread_over_ten_thousand_ids_is_even() -> None:
    shards = 8
    counts = Counter(shard_for(f"01HX{n:08d}", shards) for n in range(10_000))
    expected = 10_000 / shards
    assert len(counts) == shards
    assert all(abs(count - expected) < 0.1 * expected for count in counts.values()), counts


def test_shards_must_be_positive() -> None:
    with pytest.raises(ValueError):
        shard_for("r", 0)
