"""User regular expressions, run on RE2: matching time is linear in the text, whatever the pattern.

Python's `re` backtracks, so `(a+)+$` against 34 `a`s and a `b` takes minutes; RE2 never backtracks, so a
rule's pattern may run in the shard actors all tenants share and in the gateway's event loop. RE2 syntax is
Python's without backreferences, lookaround, atomic groups and possessive quantifiers (`\\Z` is spelled `\\z`);
`\\d`, `\\w`, `\\s` and `\\b` are ASCII, and `$` without `(?m)` matches only at the very end of the text.

Three caps bound the cost. A pattern has at most MAX_PATTERN_LENGTH characters. Its compiled program and DFA
cache use at most MAX_PATTERN_MEMORY bytes (RE2's `max_mem`), so a huge repetition is refused at save. One
search costs at most MAX_SEARCH_COST (program instructions times text characters, each worth a few nanoseconds
when RE2's DFA gives up), so a heavy pattern refuses a text long enough to stall a shard rather than search it.
"""

from __future__ import annotations

from functools import _CacheInfo, lru_cache
from typing import Any

import re2

MAX_PATTERN_LENGTH = 1_000  # characters
MAX_PATTERN_MEMORY = 1 << 20  # bytes per compiled pattern (RE2's default is 8 MiB)
MAX_SEARCH_COST = 10_000_000  # program instructions x characters: about a tenth of a second at worst
CACHE_SIZE = 256  # compiled patterns kept per process: at most CACHE_SIZE x MAX_PATTERN_MEMORY bytes

_BACKREFERENCE = "backreferences like \\1 are not supported (RE2 syntax)"
_LOOKAHEAD = "lookahead (?=...) and (?!...) is not supported (RE2 syntax)"
_LOOKBEHIND = "lookbehind (?<=...) and (?<!...) is not supported (RE2 syntax)"
_POSSESSIVE = "possessive quantifiers like a++ are not supported (RE2 syntax)"
# RE2's complaint (its start) and what a rule author reads instead; anything else is quoted as RE2 says it.
_EXPLANATIONS: tuple[tuple[str, str], ...] = (
    ("invalid escape sequence: \\Z", "\\Z is written \\z in RE2 syntax"),
    *((f"invalid escape sequence: \\{char}", _BACKREFERENCE) for char in "123456789gk"),
    ("invalid perl operator: (?P", "backreferences like (?P=name) are not supported (RE2 syntax)"),
    ("invalid perl operator: (?=", _LOOKAHEAD),
    ("invalid perl operator: (?!", _LOOKAHEAD),
    ("invalid perl operator: (?<=", _LOOKBEHIND),
    ("invalid perl operator: (?<!", _LOOKBEHIND),
    ("invalid perl operator: (?>", "atomic groups (?>...) are not supported (RE2 syntax)"),
    ("invalid perl operator: (?(", "conditional groups (?(...)...) are not supported (RE2 syntax)"),
    *((f"bad repetition operator: {op}", _POSSESSIVE) for op in ("++", "*+", "?+")),
    ("invalid repetition size", "a repetition count is at most 1000, nested counts multiplied (RE2 syntax)"),
    (
        "pattern too large",
        f"the pattern is too large once compiled (RE2 program memory is capped at {MAX_PATTERN_MEMORY >> 20} MiB)",
    ),
)


class PatternError(ValueError):
    """A pattern RE2 refuses, or one over a cap; the message says why in the rule author's terms."""


class TextRefused(ValueError):
    """A text a pattern will not search: too long for it under MAX_SEARCH_COST, or not valid Unicode."""


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern cannot be used (a sentence for the rule author), or None when RE2 accepts it within the caps."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"a pattern is at most {MAX_PATTERN_LENGTH} characters, got {len(pattern)}"
    compiled = _compiled(pattern)
    return compiled if isinstance(compiled, str) else None


def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern (cached); PatternError naming the problem when it cannot be used."""
    problem = pattern_problem(pattern)
    if problem is not None:
        raise PatternError(problem)
    return _compiled(pattern)


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (as `re.search`); PatternError or TextRefused when refused."""
    compiled = compile_pattern(pattern)
    longest = MAX_SEARCH_COST // max(compiled.programsize, 1)
    if len(text) > longest:
        raise TextRefused(f"this pattern searches at most {longest} characters, got {len(text)}")
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:
        raise TextRefused("the text is not valid Unicode (it holds a lone surrogate)") from None


def cache_info() -> _CacheInfo:
    """Hits, misses and the bound of the compiled-pattern cache."""
    return _compiled.cache_info()


@lru_cache(maxsize=CACHE_SIZE)
def _compiled(pattern: str) -> Any:
    """The compiled pattern, or the problem as a string (cached too: a stored bad pattern is met on every event)."""
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    options.log_errors = False  # a refusal is reported to the author, not written to stderr
    try:
        return re2.compile(pattern, options)
    except UnicodeEncodeError:
        return "the pattern is not valid Unicode (it holds a lone surrogate)"
    except re2.error as exc:
        return _explain(_text(exc))


def _explain(complaint: str) -> str:
    for start, explanation in _EXPLANATIONS:
        if complaint.startswith(start):
            return explanation
    return f"invalid regular expression (RE2 syntax): {complaint}"


def _text(exc: Exception) -> str:
    message = exc.args[0] if exc.args else str(exc)
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
