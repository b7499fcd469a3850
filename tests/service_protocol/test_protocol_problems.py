"""Error bodies parsed once: problem+json, other JSON, HTML from a proxy, nothing."""

from __future__ import annotations

import json

import pytest

from service_protocol import parse_problem


def test_a_problem_object_keeps_its_fields() -> None:
    body = {"type": "https://rtfit.dev/problems/invalid-input", "title": "Invalid input", "status": 422,
            "detail": "model.framework: unknown framework 'pytorhc'", "field": "model.framework"}
    p = parse_problem(422, json.dumps(body).encode())
    assert (p.status, p.title, p.field) == (422, "Invalid input", "model.framework")
    assert p.summary() == "model.framework: unknown framework 'pytorhc'" and p.body == body


@pytest.mark.parametrize(
    ("content", "reason", "summary"),
    [
        (b"<html><body>502 Bad   Gateway</body></html>", "Bad Gateway", "<html><body>502 Bad Gateway</body></html>"),
        (b"", "Service Unavailable", "Service Unavailable"),
        (b"", None, "HTTP 503"),
        (b'["a", "b"]', None, '["a", "b"]'),
        (b'{"title": "Not found"}', None, "Not found"),
        (b'{"detail": {"nested": 1}}', None, '{"nested": 1}'),
        (b"\xff\xfe not utf-8", None, "\ufffd\ufffd not utf-8"),
    ],
)
def test_anything_else_gives_a_readable_summary(content: bytes, reason: str | None, summary: str) -> None:
    assert parse_problem(503, content, reason=reason).summary() == summary


def test_a_long_body_is_cut() -> None:
    assert len(parse_problem(500, b"x" * 10_000).summary()) == 300
