"""A docs snippet that makes a token with `rtfit token new --file F` and starts `rtfit serve` must
start the service with `RTFIT_TOKENS_FILE=F`: the service reads tokens from nowhere else, so the
token is refused (401) otherwise. docs/ui.md's two lines did exactly that (fresh-clone trial)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"```[\w-]*\n(.*?)```", re.S)


def _commands(block: str) -> list[list[str]]:
    out = []
    for line in block.splitlines():
        line = line.split("#")[0].strip()
        if line:
            try:
                out.append(shlex.split(line))
            except ValueError:
                continue
    return out


def test_token_files_made_in_a_snippet_are_the_ones_its_service_reads():
    checked = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in _FENCE.findall(doc.read_text(encoding="utf-8")):
            cmds = _commands(block)
            made = {c[c.index("--file") + 1] for c in cmds
                    if c[:3] == ["rtfit", "token", "new"] and "--file" in c[:-1]}
            serves = [c for c in cmds if "rtfit" in c and c[c.index("rtfit") + 1:c.index("rtfit") + 2] == ["serve"]]
            if not made or not serves:
                continue
            for serve in serves:
                env = dict(w.split("=", 1) for w in serve[:serve.index("rtfit")] if "=" in w)
                checked += 1
                assert env.get("RTFIT_TOKENS_FILE") in made, (
                    f"{doc.relative_to(ROOT)}: `{' '.join(serve)}` does not read the tokens file {sorted(made)} "
                    "that the snippet's `rtfit token new` writes (set RTFIT_TOKENS_FILE)")
    assert checked, "no snippet makes a token and starts the service (docs/ui.md did)"
