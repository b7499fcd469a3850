"""The one token-file rule, the same for the agent, the runner and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from service_protocol import TokenFileInvalid, read_token, resolve_token


@pytest.mark.parametrize(
    ("content", "token"),
    [
        ("abc123\n", "abc123"),
        ("  abc123  ", "abc123"),
        ("# written by rtfit token new\n\nabc123\n\n", "abc123"),
        ("abc123\r\n", "abc123"),
    ],
)
def test_the_token_is_the_one_line_that_is_not_blank_or_a_comment(tmp_path: Path, content: str, token: str) -> None:
    path = tmp_path / "tok"
    path.write_text(content)
    assert read_token(path) == token


@pytest.mark.parametrize(
    ("content", "found"),
    [
        ("", "no token"),
        ("# only a comment\n", "no token"),
        ("Bearer abc123\n", "spaces in the token"),
        ("abc\ndef\n", "2 lines"),
    ],
)
def test_anything_else_is_refused_naming_the_file(tmp_path: Path, content: str, found: str) -> None:
    path = tmp_path / "tok"
    path.write_text(content)
    with pytest.raises(TokenFileInvalid) as info:
        read_token(path)
    assert str(path) in str(info.value) and "exactly one token" in str(info.value) and found in str(info.value)
    assert isinstance(info.value, ValueError)  # a user error


def test_an_unreadable_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(TokenFileInvalid, match=r"cannot read token file .*missing: No such file"):
        read_token(tmp_path / "missing")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TokenFileInvalid, match="cannot read token file"):
        read_token(tmp_path / "bin")


def test_a_token_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "tok"
    path.write_text("from-file\n")
    env = {"RTFIT_TOKEN": "from-env"}
    assert resolve_token(path, env=env) == "from-file"
    assert resolve_token(None, env=env) == "from-env"
    assert resolve_token(None, env={}) is None
    assert resolve_token(None, env={"RTFIT_TOKEN": ""}) is None
