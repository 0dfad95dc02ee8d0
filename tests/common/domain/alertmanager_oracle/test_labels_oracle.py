"""Fingerprints and the matcher syntax, against the real Alertmanager 0.25 and amtool (differential).

Fingerprints: random label sets (odd names, empty values, quotes, line feeds, non-ASCII) posted to the real
Alertmanager, whose reported `fingerprint` and stored labels must equal ours. Syntax: generated matcher texts,
well-formed and not, given to amtool (`silence add` reads single matchers, a route's `matchers:` reads lists); the
matchers amtool sends, or its refusal, must equal what our parser returns.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import yaml

from services.common.domain.labels.label_set import fingerprint, normalize
from services.common.domain.labels.matchers import Matcher, MatchType, escape, to_api
from services.common.domain.labels.parse import MatcherSyntaxError, parse_matcher, parse_matchers
from services.common.domain.silences.model import matcher_problem
from tests.common.domain.alertmanager_oracle.generate import matcher
from tests.support.alertmanager import AMTOOL, Alertmanager

FINGERPRINT_CASES = 200
SINGLE_CASES = 150
LIST_CASES = 100
SUITE = Matcher(name="suite", type=MatchType.EQUAL, value="parse")
_NAME_START = "abcxyzABC_"
_VALUE_CHARS = ["a", "b", "x", "Z", "0", " ", ",", '"', "\\", "\n", "\t", "=", "~", "{", "}", "日", "é", "🙂"]


def _random_labels(rng: random.Random, case: int) -> dict[str, str]:
    labels = {"suite": "fingerprint", "case": str(case)}
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(_NAME_START) + "".join(rng.choices(_NAME_START + "0123456789", k=rng.randint(0, 6)))
        labels[name] = "".join(rng.choices(_VALUE_CHARS, k=rng.randint(0, 8)))
    return labels


def test_fingerprints_and_stored_labels_agree(alertmanager: Alertmanager) -> None:
    rng = random.Random(17)
    sent = [_random_labels(rng, case) for case in range(FINGERPRINT_CASES)]
    alertmanager.post_alerts([{"labels": labels} for labels in sent])
    got = {alert["labels"]["case"]: alert for alert in alertmanager.alerts('suite="fingerprint"')}
    assert len(got) == FINGERPRINT_CASES
    for labels in sent:
        alert = got[labels["case"]]
        assert alert["labels"] == normalize(labels)
        assert alert["fingerprint"] == fingerprint(normalize(labels)), labels


def _value_text(rng: random.Random) -> str:
    raw = "".join(rng.choices([*_VALUE_CHARS[:-3], ".", "*", "|", "(", "]"], k=rng.randint(0, 6)))
    forms = [raw, f'"{escape(raw)}"', f'"{raw}"', f'"{escape(raw)}', f"{escape(raw)}"]
    return rng.choice(forms)


def _matcher_text(rng: random.Random) -> str:
    space = ["", " ", "  ", "\t"]
    name = rng.choice(["a", "b_1", "team", "Team", "a:b", "9x", "", "a-b", "_"])
    operator = rng.choice(["=", "!=", "=~", "!~", "=", "!=", "==", "~", "!"])
    return f"{rng.choice(space)}{name}{rng.choice(space)}{operator}{rng.choice(space)}{_value_text(rng)}"


def _ours_single(text: str) -> list[Matcher] | None:
    """The matchers amtool should send for `suite="parse"` and this text, or None when it must refuse."""
    try:
        found = [SUITE, parse_matcher(text)]
    except MatcherSyntaxError:
        return None
    return found if matcher_problem(tuple(found)) is None else None


def _silence_add(alertmanager: Alertmanager, texts: list[str]) -> subprocess.CompletedProcess[str]:
    return alertmanager.amtool("silence", "add", "--comment=parse", "--author=oracle", "--", str(SUITE), *texts)


def test_single_matchers_parse_as_amtool_parses_them(alertmanager: Alertmanager) -> None:
    rng = random.Random(1717)
    texts = [_matcher_text(rng) for _ in range(SINGLE_CASES)]
    accepted = [text for text in texts if _ours_single(text) is not None]
    refused = [text for text in texts if _ours_single(text) is None]
    assert len(accepted) > 40 and len(refused) > 20  # the generator keeps both sides well represented
    for text in refused:  # one call each: amtool stops at the first bad matcher
        assert _silence_add(alertmanager, [text]).returncode != 0, f"amtool accepts {text!r}; we refuse it"
    for start in range(0, len(accepted), 25):
        batch = accepted[start : start + 25]
        done = _silence_add(alertmanager, batch)
        if done.returncode != 0:
            for text in batch:  # name the text amtool refuses
                assert _silence_add(alertmanager, [text]).returncode == 0, f"amtool refuses {text!r}; we accept it"
        silence = alertmanager.silence(done.stdout.strip())
        expected = [to_api(SUITE)] + [to_api(parse_matcher(text)) for text in batch]
        assert silence["matchers"] == expected


_TYPE_ORDER = list(MatchType)


def _printed(matchers: list[Matcher]) -> str:
    """A route's matchers as `amtool config routes` prints them: sorted by name, value, then operator."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.value, _TYPE_ORDER.index(m.type)))
    return "{" + ",".join(str(m) for m in ordered) + "}" if ordered else "default-route"


def _clean_text(rng: random.Random) -> str:
    """A well-formed matcher, quoted or bare, with spaces around its parts."""
    found = matcher(rng)
    space = rng.choice(["", " "])
    value = f'"{escape(found.value)}"' if rng.random() < 0.6 or '"' in found.value else found.value
    return f"{found.name}{space}{found.type.value}{space}{value}"


def _list_text(rng: random.Random) -> str:
    items = [_clean_text(rng) if rng.random() < 0.75 else _matcher_text(rng) for _ in range(rng.randint(1, 3))]
    body = rng.choice([",", ", ", " ,"]).join(items) + rng.choice(["", ",", ", "])
    return rng.choice(["{" + body + "}", body, "{" + body, body + "}"])


def _routes_shown(tmp_path: Path, texts: list[str]) -> subprocess.CompletedProcess[str]:
    routes: list[dict[str, Any]] = [{"receiver": f"r{i}", "matchers": [text]} for i, text in enumerate(texts)]
    receivers = [{"name": "root"}] + [{"name": f"r{i}"} for i in range(len(texts))]
    path = tmp_path / "routes.yml"
    path.write_text(yaml.safe_dump({"route": {"receiver": "root", "routes": routes}, "receivers": receivers}))
    argv = [AMTOOL, "config", "routes", f"--config.file={path}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _ours_list(text: str) -> list[Matcher] | None:
    try:
        return parse_matchers(text)
    except MatcherSyntaxError:
        return None


def test_matcher_lists_parse_as_the_configuration_parses_them(oracle_binaries: None, tmp_path: Path) -> None:
    rng = random.Random(71)
    texts = [_list_text(rng) for _ in range(LIST_CASES)]
    accepted = [text for text in texts if _ours_list(text) is not None]
    refused = [text for text in texts if _ours_list(text) is None]
    assert len(accepted) > 40 and len(refused) > 10
    for text in refused:
        assert _routes_shown(tmp_path, [text]).returncode != 0, f"Alertmanager accepts {text!r}; we refuse it"
    done = _routes_shown(tmp_path, accepted)
    if done.returncode != 0:
        for text in accepted:
            assert _routes_shown(tmp_path, [text]).returncode == 0, f"Alertmanager refuses {text!r}; we accept it"
    shown = {}
    for line in done.stdout.splitlines():
        if "receiver: r" in line:
            printed, receiver = line.split("── ", 1)[1].rsplit("  receiver: ", 1)
            shown[receiver] = printed
    for index, text in enumerate(accepted):
        assert shown[f"r{index}"] == _printed(parse_matchers(text)), text
