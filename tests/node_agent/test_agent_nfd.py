"""Node Feature Discovery local feature file: content, format, atomic write, rewrite policy."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node_agent.errors import NfdWriteError
from node_agent.fake import fake_a100_mig, fake_h100, fake_l4, fake_node
from node_agent.inventory import HostFacts, build_inventory
from node_agent.nfd import NfdWriter, features_from_inventory, label_value, render_features, write_features

HOST = HostFacts(hostname="h", arch="x86_64")
NOW = datetime(2030, 7, 29, 11, 22, 33, 123456, tzinfo=UTC)
# Kubernetes label value / NFD name rules
VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _entry(*gpus, **kw):
    return build_inventory(fake_node(*gpus, driver="535.104.05", cuda="12.2"), name="n", host=HOST, **kw)


def test_features_for_a_two_l4_node_with_cached_components() -> None:
    feats = features_from_inventory(
        _entry(fake_l4(), fake_l4(), cached_components=["cuda/12.2.2", "pytorch/2.4.1+cu124"])
    )
    assert feats == {
        "rtfit.io/agent": "true",
        "rtfit.io/arch": "x86_64",
        "rtfit.io/gpu.count": "2",
        "rtfit.io/driver.version": "535.104.05",
        "rtfit.io/driver.major": "535",
        "rtfit.io/cuda.driver-version": "12.2",
        "rtfit.io/gpu.product": "NVIDIA-L4",
        "rtfit.io/gpu.compute-capability.min": "8.9",
        "rtfit.io/gpu.memory-mib.min": "23034",
        "rtfit.io/gpu.mig": "false",
        "rtfit.io/cached.cuda-12.2.2": "true",
        "rtfit.io/cached.pytorch-2.4.1-cu124": "true",
    }


def test_features_for_mixed_mig_and_cpu_only_nodes_are_valid_labels() -> None:
    mixed = features_from_inventory(_entry(fake_h100(), fake_a100_mig(["1g.5gb"])))
    assert mixed["rtfit.io/gpu.product"] == "mixed"
    assert mixed["rtfit.io/gpu.compute-capability.min"] == "8.0"
    assert mixed["rtfit.io/gpu.mig"] == "true"
    assert mixed["rtfit.io/gpu.memory-mib.min"] == "4864"
    cpu = features_from_inventory(build_inventory(fake_node(driver=None, cuda=None), name="n", host=HOST))
    assert cpu == {"rtfit.io/agent": "true", "rtfit.io/arch": "x86_64", "rtfit.io/gpu.count": "0"}
    for feats in (mixed, cpu):
        for key, value in feats.items():
            assert key.startswith("rtfit.io/") and VALUE_RE.match(key.removeprefix("rtfit.io/"))
            assert VALUE_RE.match(value) and len(value) <= 63


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3"),
        (True, "true"),
        ("2.4.1+cu124", "2.4.1-cu124"),
        ("x" * 80, "x" * 63),
    ],
)
def test_label_value(raw: object, value: str) -> None:
    assert label_value(raw) == value


def test_render_puts_the_nfd_expiry_directive_in_rfc3339_utc() -> None:
    text = render_features({"rtfit.io/b": "2", "rtfit.io/a": "1"}, expires=NOW)
    lines = text.splitlines()
    assert "# +expiry-time=2030-07-29T11:22:33Z" in lines
    assert lines[-2:] == ["rtfit.io/a=1", "rtfit.io/b=2"]
    # NFD parses the directive value with Go's time.RFC3339
    stamp = next(li for li in lines if li.startswith("# +expiry-time=")).split("=", 1)[1]
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == NOW.replace(microsecond=0)


def test_write_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "features.d" / "rtfit"
    write_features(target, "a=1\n")
    write_features(target, "a=2\n")
    assert target.read_text() == "a=2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["rtfit"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_write_failure_is_wrapped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NfdWriteError, match="cannot write NFD features file"):
        write_features(blocker / "sub" / "rtfit", "a=1\n")


def test_writer_rewrites_only_on_change_or_when_half_the_expiry_is_gone(tmp_path: Path) -> None:
    writer = NfdWriter(tmp_path / "rtfit", ttl=timedelta(minutes=10))
    feats = {"rtfit.io/a": "1"}
    assert writer.update(feats, now=NOW) is True
    assert writer.update(feats, now=NOW + timedelta(minutes=4)) is False
    assert writer.update({"rtfit.io/a": "2"}, now=NOW + timedelta(minutes=4)) is True
    assert writer.update({"rtfit.io/a": "2"}, now=NOW + timedelta(minutes=9, seconds=1)) is True
    assert "# +expiry-time=2030-07-29T11:41:34Z" in (tmp_path / "rtfit").read_text()
    (tmp_path / "rtfit").unlink()  # someone removed it: put it back
    assert writer.update({"rtfit.io/a": "2"}, now=NOW + timedelta(minutes=9, seconds=2)) is True
