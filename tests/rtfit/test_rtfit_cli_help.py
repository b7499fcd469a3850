"""Every option and argument of every `rtfit` command has help text; flags show no `<bool>`."""

from __future__ import annotations

from typer.testing import CliRunner

from rtfit.cli import COMMANDS, app, load_commands


def _walk(cmd, path: tuple[str, ...]):
    yield path, cmd
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _walk(sub, (*path, name))


def _all_commands():
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        for name, cmd in load_commands(module).items():
            yield from _walk(cmd, (name,))


def test_every_parameter_has_help():
    missing = []
    for path, cmd in _all_commands():
        if not (cmd.help or "").strip():
            missing.append(" ".join(path) + " (command)")
        for p in cmd.params:
            if p.name in ("help",):
                continue
            if not (getattr(p, "help", None) or "").strip():
                missing.append(f"{' '.join(path)} {p.opts[0] if p.opts else p.name}")
    assert not missing, missing


def test_no_bool_metavar_in_any_help_page():
    runner = CliRunner()
    pages = [[]] + [list(path) for path, _ in _all_commands()]
    for path in pages:
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, (path, res.output)
        assert "<bool>" not in res.output and "BOOLEAN" not in res.output, path


def test_shell_completion_is_enabled():
    runner = CliRunner()
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in res.output and "--show-completion" in res.output
    shown = runner.invoke(app, ["--show-completion", "bash"], prog_name="rtfit")
    assert shown.exit_code == 0 and "complete" in shown.output.lower()
