"""Long store operations report progress (bytes hashed) on stderr, never on stdout."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rtfit.cli import app
from workflow.store import RuntimeStore, content_digest, stage_folder


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "a.bin").write_bytes(b"x" * 3_000_000)
    (src / "b.txt").write_bytes(b"y" * 1234)
    return src


def test_content_digest_reports_every_byte(tmp_path):
    src = _folder(tmp_path)
    seen: list[tuple[int, int]] = []
    size, digest = content_digest(src, lambda done, total: seen.append((done, total)))
    assert (size, digest) == content_digest(src)
    assert seen and seen[-1] == (size, size)
    assert all(t == size for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_stage_and_verify_show_bars_on_stderr(tmp_path, monkeypatch):
    src = _folder(tmp_path)
    store = tmp_path / "store"
    monkeypatch.setenv("RTFIT_PROGRESS", "1")
    runner = CliRunner()
    res = runner.invoke(app, ["store", "stage", "demo", "1.0", "--from", str(src), "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "hashing demo/1.0" in res.stderr and "hashing" not in res.stdout
    res = runner.invoke(app, ["store", "verify", "--store", str(store)])
    assert res.exit_code == 0 and "verifying demo/1.0" in res.stderr
    monkeypatch.setenv("RTFIT_PROGRESS", "0")
    res = runner.invoke(app, ["store", "verify", "--store", str(store)])
    assert res.exit_code == 0 and "verifying" not in res.stderr


def test_stage_folder_passes_progress_through(tmp_path):
    calls = []
    stage_folder(RuntimeStore(tmp_path / "s"), "demo", "2.0", _folder(tmp_path), progress=lambda d, t: calls.append(d))
    assert calls and calls[-1] == 3_001_234
