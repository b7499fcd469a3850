"""The checks every JSON request body passes before it is parsed (and before authentication).

They run on each POST/PUT/PATCH body up to the body-size limit, with no token yet, so each is
linear in the body's length and touches each byte a bounded number of times (measured: about
0.1 s for a 1 MiB body of the worst shape, on one core):

- nesting deeper than `MAX_JSON_DEPTH` (a body nested a few hundred levels deep parsed, then broke
  the response encoder);
- `NaN`, `Infinity`, `-Infinity` (Python's parser accepts them; they are not JSON, PostgreSQL's JSON
  columns refuse them and the answer cannot be encoded);
- numbers that do not fit: an integer part longer than `MAX_DIGITS` digits (past 64 bits; 5,000
  digits made the parser itself fail) or a float that overflows to infinity (`1e400`).

Strings are removed first by one regular expression that cannot fail once it has started (the
closing quote is optional), so it never backtracks or rescans; the rest is bracket counting and
two more single passes.
"""

from __future__ import annotations

import math
import re
from itertools import accumulate

__all__ = ["MAX_DIGITS", "MAX_JSON_DEPTH", "body_problem", "json_depth"]

MAX_JSON_DEPTH = 64
MAX_DIGITS = 19  # 2**63 has 19 digits

# Possessive: no backtracking stack grows with the string (the greedy form was 4x slower past 1 MiB).
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\[\s\S])*+"?')
_FOLD = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_OPEN = ord("[")
_NON_FINITE = re.compile(rb"NaN|Infinity")
# Both anchor at the start of a number and use possessive quantifiers: no backtracking into digits.
_LONG_INTEGER = re.compile(rb"(?<![.\d])\d{%d}" % (MAX_DIGITS + 1))
# Only a positive exponent of 3+ digits can overflow (the integer part has at most 19 digits).
_EXPONENT = re.compile(rb"(?<![.\d])-?\d++(?:\.\d*+)?+[eE]\+?0*+\d{3,}+")


def _strip_strings(body: bytes) -> bytes:
    return _STRINGS.sub(b"", body) if b'"' in body else body


def _depth(structure: bytes, *, over: int | None = None) -> int:
    """Deepest nesting; with `over`, any value > `over` may stand for "deeper than `over`"."""
    brackets = structure.translate(_FOLD, _NOT_BRACKETS)
    opens = brackets.count(b"[")
    if opens == 0 or (over is not None and opens <= over):
        return min(opens, 1) if over is not None else _exact(brackets)  # bounded by the opens
    return _exact(brackets)


def _exact(brackets: bytes) -> int:
    if not brackets:
        return 0
    return max(0, max(accumulate(1 if c == _OPEN else -1 for c in brackets)))


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects in a JSON text (strings ignored), in time linear in its length."""
    if b"[" not in body and b"{" not in body:
        return 0
    return _depth(_strip_strings(body))


def body_problem(body: bytes) -> str | None:
    """Why this JSON body is refused before parsing (a sentence), or None."""
    structure = _strip_strings(body)
    if (b"[" in structure or b"{" in structure) and _depth(structure, over=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        return f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    if _NON_FINITE.search(structure):
        return "NaN and Infinity are not JSON numbers; send a finite number"
    if _LONG_INTEGER.search(structure):
        return f"a number in the body has more than {MAX_DIGITS} digits before its decimal point"
    for m in _EXPONENT.finditer(structure):
        if not math.isfinite(float(m.group())):
            return f"the number {m.group()[:40].decode('ascii', 'replace')} is too large (it overflows to infinity)"
    return None
