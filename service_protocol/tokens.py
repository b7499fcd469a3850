"""The one rule for bearer-token files, used by the agent, the runner and the CLI.

A token file holds exactly one token: the first line that is neither blank nor a `#` comment,
without surrounding whitespace. A file with no such line, with a second one, or whose token
contains whitespace is refused, so a pasted "Bearer abc" or two tokens in one Secret fail at
start-up with the file named instead of being sent and answered 401. The file is read on every
call, so a rotated Kubernetes Secret applies without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from service_protocol.errors import TokenFileInvalid

__all__ = ["TOKEN_ENV", "read_token", "resolve_token"]

TOKEN_ENV = "RTFIT_TOKEN"


def read_token(path: str | Path) -> str:
    """The token in `path`; raises `TokenFileInvalid` (a ValueError) naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise TokenFileInvalid(f"cannot read token file {path}: {reason}") from e
    lines = [ln.strip() for ln in text.splitlines()]
    tokens = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(tokens) != 1 or any(c.isspace() for c in tokens[0]):
        found = "no token" if not tokens else f"{len(tokens)} lines" if len(tokens) > 1 else "spaces in the token"
        raise TokenFileInvalid(
            f"token file {path} must hold exactly one token on one line ('#' comments allowed); found {found}"
        )
    return tokens[0]


def resolve_token(token_file: str | Path | None, *, env: Mapping[str, str] | None = None) -> str | None:
    """`token_file` when given (read by `read_token`), else the `RTFIT_TOKEN` variable, else None."""
    if token_file is not None:
        return read_token(token_file)
    return (os.environ if env is None else env).get(TOKEN_ENV) or None
