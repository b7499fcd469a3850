"""What a request costs before authentication: the JSON pre-checks (metadata_service/jsonscan.py).

For bodies of the worst shapes we know (escaped quotes, deep nesting, many numbers, many
exponents, one long string) at 1/4, 1 and 2 MiB it times `body_problem` and, side by side on the
same bytes, `json.loads` (the parse FastAPI does anyway before the route's auth dependency). The
ratio pre-check / parse is the figure to read; growth with size shows linearity (x4 bytes should
cost about x4, not x16). Bounded: about 10 s.

    .venv/bin/python bench/preauth_bench.py
"""

from __future__ import annotations

import json
import time

from metadata_service.jsonscan import body_problem

MIB = 1024 * 1024
SHAPES = {
    "escaped quotes": lambda n: b'{"a": "' + b'\\"' * (n // 2 - 8) + b'"}',
    "deep nesting": lambda n: b"[" * (n // 2) + b"]" * (n // 2),
    "many numbers": lambda n: b"[" + b"1234567890123456789," * (n // 20 - 1) + b"1]",
    "many exponents": lambda n: b"[" + b"1e100," * (n // 6 - 1) + b"1]",
    "one long string": lambda n: b'{"a": "' + b"x" * (n - 10) + b'"}',
}


def best_of(fn: object, body: bytes, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            fn(body)  # type: ignore[operator]
        except (ValueError, RecursionError):
            pass  # json.loads refuses some shapes (too deep); the time to refuse still counts
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    print(f"{'shape':<16} {'size':>8} {'pre-check ms':>13} {'json.loads ms':>14} {'ratio':>6}")
    for name, make in SHAPES.items():
        for size in (MIB // 4, MIB, 2 * MIB):
            body = make(size)
            check = best_of(body_problem, body)
            parse = best_of(json.loads, body)
            print(f"{name:<16} {len(body) / MIB:>7.2f}M {check * 1000:>13.1f} {parse * 1000:>14.1f} {check / parse:>6.2f}")


if __name__ == "__main__":
    main()
