"""`rtfit catalog freshness`: registry releases vs the catalog, lag in days, exit status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from packaging.version import Version
from typer.testing import CliRunner

from catalog import load_catalog
from catalog.freshness import FAMILIES, SNAPSHOT, check_freshness, load_snapshot, write_snapshot
from catalog.registry import ProjectReleases, RegistryError, fetch_project, parse_project_json, pip_index_url
from rtfit.cli import app
from tests.catalog.conftest import write_catalog

runner = CliRunner()
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _t(day: str) -> datetime:
    return datetime.fromisoformat(day + "T12:00:00+00:00")


def _file(name: str, when: str | None, yanked: bool = False) -> dict:
    f = {"filename": name, "url": "https://example/" + name, "hashes": {}, "yanked": yanked}
    if when is not None:
        f["upload-time"] = when
    return f


def test_pep691_json_keeps_final_releases_with_their_earliest_upload():
    data = {"meta": {"api-version": "1.1"}, "versions": ["2.4.0", "2.5.0rc1", "2.5.0", "2.6.0.dev1", "2.3.0"],
            "files": [
                _file("torch-2.4.0-cp311-cp311-manylinux_2_28_x86_64.whl", "2026-05-02T10:00:00.123Z"),
                _file("torch-2.4.0-cp312-cp312-manylinux_2_28_aarch64.whl", "2026-05-01T09:00:00Z"),
                _file("torch-2.5.0rc1-cp311-cp311-manylinux_2_28_x86_64.whl", "2026-06-01T00:00:00Z"),
                _file("torch-2.5.0.tar.gz", "2026-07-01T00:00:00Z"),
                _file("torch-2.6.0.dev1-cp311-cp311-linux_x86_64.whl", "2026-08-01T00:00:00Z"),
                _file("torch-2.3.0-cp311-cp311-linux_x86_64.whl", "2026-01-01T00:00:00Z", yanked=True),
                _file("torch-2.2.0-cp311-cp311-linux_x86_64.whl", None),
                _file("not-a-dist.zip", "2026-01-01T00:00:00Z"),
            ]}
    rel = parse_project_json("Torch", data)
    assert rel.name == "torch"
    assert sorted(rel.uploaded) == ["2.4.0", "2.5.0"]
    assert rel.uploaded["2.4.0"] == datetime(2026, 5, 1, 9, tzinfo=UTC)


def test_not_pep691_is_a_registry_error():
    with pytest.raises(RegistryError, match="PEP 691"):
        parse_project_json("torch", {"releases": {}})


def test_index_url_comes_from_pip_configuration(tmp_path, monkeypatch):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\n")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert pip_index_url() == "https://mirror.example/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/pypi/simple/")
    assert pip_index_url() == "https://env.example/pypi/simple/"


def _projects(**pkgs: dict[str, str]) -> dict[str, ProjectReleases]:
    return {name.replace("_", "-"): ProjectReleases(name.replace("_", "-"), {v: _t(d) for v, d in rel.items()})
            for name, rel in pkgs.items()}


def _report(mini_docs, tmp_path, projects, max_lag=30):
    cat = load_catalog(write_catalog(tmp_path / "c", mini_docs))
    return check_freshness(cat, projects, now=NOW, max_lag_days=max_lag, families=["pytorch", "cudnn", "cuda", "vllm"])


def test_lag_is_the_age_of_the_oldest_release_newer_than_the_catalog(mini_docs, tmp_path):
    # mini catalog: torch 2.4.0/2.4.1, cuDNN 9.1.0, CUDA 12.0/12.2/12.4
    projects = _projects(
        torch={"2.3.0": "2024-01-01", "2.4.0": "2024-07-24", "2.4.1": "2024-09-04",
               "2.5.0": "2026-10-20", "2.5.1": "2026-11-20", "2.6.0": "2026-12-05"},  # 2.6.0 is after `now`
        nvidia_cudnn_cu12={"9.1.0.70": "2024-04-01", "9.0.0.312": "2024-02-01"},
        nvidia_cuda_runtime_cu12={"12.0.107": "2023-01-01", "12.1.105": "2023-05-01", "12.4.127": "2024-04-01",
                                  "12.6.77": "2026-11-25"},
    )
    r = _report(mini_docs, tmp_path, projects)
    fam = {f.family: f for f in r.families}
    pt = fam["pytorch"]
    assert [m.version for m in pt.missing] == ["2.5.0", "2.5.1"]
    assert pt.lag_days == 41 and pt.status == "stale" and pt.newest_catalogued == "2.4.1"
    assert pt.gaps == ()                                        # 2.3.0 is older than the catalogue, not a gap
    cudnn = fam["cudnn"]
    assert cudnn.status == "ok" and cudnn.missing == () and cudnn.lag_days == 0   # 9.1.0.70 is cuDNN 9.1.0
    cuda = fam["cuda"]
    assert [m.version for m in cuda.missing] == ["12.6"] and cuda.lag_days == 5 and cuda.status == "ok"
    assert [g.version for g in cuda.gaps] == ["12.1"]
    vllm = fam["vllm"]
    assert vllm.status == "not-catalogued" and vllm.missing == ()
    assert not r.ok
    assert _report(mini_docs, tmp_path, projects, max_lag=41).families[0].status == "ok"


def test_uncatalogued_family_lags_since_its_first_release(mini_docs, tmp_path):
    r = _report(mini_docs, tmp_path, _projects(vllm={"0.1.0": "2026-11-01", "0.2.0": "2026-11-21"}))
    vllm = next(f for f in r.families if f.family == "vllm")
    assert vllm.status == "not-catalogued" and vllm.lag_days == 29 and len(vllm.missing) == 2


def test_snapshot_round_trip(tmp_path):
    projects = _projects(torch={"2.5.0": "2026-10-20"})
    path = tmp_path / "snap.json"
    write_snapshot(path, projects, "https://pypi.org/simple/", NOW)
    back, url, when = load_snapshot(path)
    assert back["torch"].uploaded == projects["torch"].uploaded and url == "https://pypi.org/simple/" and when == NOW
    path.write_text('{"format": "something else"}')
    with pytest.raises(RegistryError, match="not an rtfit registry snapshot"):
        load_snapshot(path)


def test_cli_offline_reads_a_snapshot_and_exits_1_when_stale(tmp_path, mini_docs):
    folder = write_catalog(tmp_path / "c", mini_docs)
    snap = tmp_path / "snap.json"
    write_snapshot(snap, _projects(torch={"2.4.1": "2024-09-04", "2.5.0": "2026-10-20"}), "https://pypi.org/simple/", NOW)
    args = ["catalog", "freshness", "--offline", "--snapshot", str(snap), "--catalog", str(folder),
            "--family", "pytorch", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    body = json.loads(res.output)
    assert body["offline"] and body["now"] == "2026-12-01T00:00:00Z"
    assert body["families"][0]["missing"][0] == {"version": "2.5.0", "uploaded": "2026-10-20T12:00:00Z",
                                                  "age_days": 41, "packages": ["torch"]}
    res = runner.invoke(app, [*args, "--max-lag-days", "41"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["catalog", "freshness", "--offline", "--family", "nope"])
    assert res.exit_code == 2 and "unknown family 'nope'" in res.output


def test_committed_snapshot_covers_every_family_package():
    projects, url, when = load_snapshot(SNAPSHOT)
    assert url.startswith("https://") and when.year >= 2026
    for fam in FAMILIES:
        for pkg in fam.packages:
            assert projects[pkg].uploaded, pkg


def test_bundled_catalog_is_fresh_against_the_committed_snapshot():
    """The catalog shipped with rtfit lags no family more than 30 days at the snapshot's time."""
    projects, url, when = load_snapshot(SNAPSHOT)
    report = check_freshness(load_catalog(), projects, now=when, index_url=url, offline=True)
    stale = {f.family: (f.status, f.lag_days, [m.version for m in f.missing]) for f in report.families
             if f.status != "ok"}
    assert not stale


@pytest.mark.network
def test_registry_serves_pep691_json_with_upload_times():
    try:
        rel = fetch_project("torch")
    except RegistryError as e:
        if "HTTP" in str(e):
            raise
        pytest.skip(f"index unreachable: {e}")
    versions = {str(v) for v in rel.versions()}
    assert {"2.4.0", "2.5.1"} <= versions
    assert rel.uploaded["2.4.0"].year == 2024


VLLM_METADATA = """Metadata-Version: 2.4
Name: vllm
Version: 0.33.0
Requires-Python: <3.15,>=3.11
Requires-Dist: torch==2.14.0
Requires-Dist: flashinfer-python==0.7.2.post1
"""

JAX_METADATA = """Metadata-Version: 2.4
Name: jax-cuda13-plugin
Version: 0.12.0.1
Requires-Python: >=3.12
Requires-Dist: jax-cuda13-pjrt==0.12.0.1
Requires-Dist: nvidia-cuda-runtime>=13.0.48; sys_platform == "linux" and extra == "with-cuda"
Requires-Dist: nvidia-cudnn-cu13<10.0,>=9.12.0.46; sys_platform == "linux" and extra == "with-cuda"
"""


def _fake_wheel(metadata: str, pythons: tuple[str, ...]):
    from catalog.registry import WheelMetadata

    def fake(name, version, machine="x86_64", index_url=None, timeout=60.0):
        return WheelMetadata(project=name, version=version, filename=f"{name}-{version}-x.whl", url="https://x/",
                             size=1234, metadata=metadata, pythons=pythons, read="range")
    return fake


def test_draft_from_registry_engine_pins_torch(monkeypatch):
    import catalog.registry
    from catalog.importer import draft_from_registry

    monkeypatch.setattr(catalog.registry, "wheel_metadata", _fake_wheel(VLLM_METADATA, ()))
    rec = draft_from_registry("vllm==0.33.0").record("pypi_wheels_vllm")
    build = rec["builds"][0]
    assert rec["id"] == "vllm.0.33" and rec["python"] == "<3.15,>=3.11"   # abi3 wheel: Requires-Python kept
    assert build["variant"] is None and build["bundled"] == {"pytorch": "2.14.0"} and build["size_bytes"] == 1234


def test_draft_from_registry_jax_plugin_needs_and_python(monkeypatch):
    import catalog.registry
    from catalog.importer import draft_from_registry

    monkeypatch.setattr(catalog.registry, "wheel_metadata", _fake_wheel(JAX_METADATA, ("3.12", "3.13", "3.15")))
    d = draft_from_registry("jax-cuda13-plugin==0.12.0.1", "aarch64")
    rec = d.record("pypi_wheels_jax")
    build = rec["builds"][0]
    assert rec["framework"] == "jax" and rec["python"] == ">=3.12,<3.16"
    assert build["variant"] == "cuda13" and build["platforms"] == ["aarch64"]
    assert build["needs"] == {"cuda": ">=13.0,<14", "cudnn": ">=9.12.0,<10.0"}
    assert any("sass/ptx" in t for t in d.todo)


def test_draft_from_registry_refuses_a_bare_name():
    from catalog.importer import ImportFailed, draft_from_registry

    with pytest.raises(ImportFailed, match="NAME==VERSION"):
        draft_from_registry("vllm")


def test_engine_draft_takes_cuda_from_the_catalogued_torch(monkeypatch):
    import catalog.registry
    from catalog.importer import complete_engine_draft, draft_from_registry

    monkeypatch.setattr(catalog.registry, "wheel_metadata", _fake_wheel(VLLM_METADATA, ()))
    d = draft_from_registry("vllm==0.33.0")
    assert any(t.startswith("copy bundled.cuda") for t in d.todo)
    assert complete_engine_draft(d, load_catalog())
    assert d.bundled == {"pytorch": "2.14.0", "cuda": "13.0", "cudnn": "9.24.0.43"}
    assert not any(t.startswith("copy bundled.cuda") for t in d.todo)
    d2 = draft_from_registry("vllm==0.33.0")
    d2.bundled["pytorch"] = "9.9.9"                       # a torch the catalog does not know stays a todo
    assert not complete_engine_draft(d2, load_catalog()) and "cuda" not in d2.bundled


def test_driver_branches_are_seen_through_the_nvml_bindings():
    """nvidia-ml-py 13.<branch>.<minor> stands for a driver release of that branch: a branch whose
    binding is out and that the catalog lacks is missing (and lags), one the catalog has is not."""
    cat = load_catalog()
    newest = max(b.branch for b in cat.driver_branches)
    assert newest >= 620
    projects = _projects(nvidia_ml_py={"13.580.65": "2025-08-07", "13.615.71": "2026-09-25",
                                        f"13.{newest}.70": "2026-11-05", f"13.{newest + 5}.30": "2026-10-31"})
    r = check_freshness(cat, projects, now=NOW, families=["driver"])
    drv = r.families[0]
    assert drv.family == "driver" and drv.packages == ("nvidia-ml-py",)
    assert drv.newest_catalogued == str(newest) and drv.newest_registry == str(newest + 5)
    assert [m.version for m in drv.missing] == [str(newest + 5)] and drv.lag_days == 30
    assert drv.status == "ok"                                   # 30 days is not more than 30
    assert check_freshness(cat, projects, now=NOW, families=["driver"], max_lag_days=29).families[0].status == "stale"
    # the committed snapshot carries the bindings, and the bundled catalog is ahead of them (R620)
    snap, _, when = load_snapshot(SNAPSHOT)
    live = check_freshness(cat, snap, now=when, families=["driver"]).families[0]
    assert live.status == "ok" and int(live.newest_registry) <= newest


def test_cpu_onnxruntime_is_its_own_family_judged_by_the_cpu_builds():
    """The CPU package `onnxruntime` is a separate project: the catalog's GPU releases (onnxruntime-gpu
    up to 1.31) must not make CPU releases the catalog has no CPU build for look catalogued (a
    fresh-clone trial found the CPU builds stopping at 1.20 while freshness said ok)."""
    cat = load_catalog()
    fams = {f.name: f for f in FAMILIES}
    assert fams["onnxruntime-cpu"].packages == ("onnxruntime",)
    cpu = {str(v) for v in fams["onnxruntime-cpu"].catalogued(cat)}
    gpu = {str(v) for v in fams["onnxruntime"].catalogued(cat)}
    cpu_releases = [r for r in cat.releases("onnxruntime") if all(not b.gpu for b in r.builds)]
    assert cpu == {str(v) for r in cpu_releases for v in r.versions} and cpu
    assert gpu == {str(v) for r in cat.releases("onnxruntime") if any(b.gpu for b in r.builds) for v in r.versions}
    newest_cpu = max(Version(v) for v in cpu)
    newer = f"{newest_cpu.major}.{newest_cpu.minor + 1}.0"
    projects = _projects(onnxruntime={str(newest_cpu): "2026-06-01", newer: "2026-10-01"},
                         onnxruntime_gpu={max(gpu, key=Version): "2026-06-01"})
    r = check_freshness(cat, projects, now=NOW, families=["onnxruntime", "onnxruntime-cpu"])
    ort, ort_cpu = r.families
    assert ort.family == "onnxruntime" and ort.packages == ("onnxruntime-gpu",) and ort.status == "ok"
    assert ort_cpu.newest_catalogued == str(newest_cpu) and [m.version for m in ort_cpu.missing] == [newer]
    assert ort_cpu.lag_days == 60 and ort_cpu.status == "stale"


def test_every_cpu_onnxruntime_release_cites_wheel_evidence_per_platform():
    """The onnxruntime-cpu family's records are backed by the CPU package's own wheels (one evidence
    file per platform the build lists), which `evidence --stored --check` compares with the record."""
    from catalog.evidence.record import load_evidence
    from catalog.loader import default_catalog_dir

    folder = default_catalog_dir() / "evidence"
    cpu = [r for r in load_catalog().releases("onnxruntime") if not any(b.gpu for b in r.builds)]
    assert len(cpu) >= 20
    for r in cpu:
        for b in r.builds:
            evs = [load_evidence(folder / name) for name in b.evidence]
            assert {e.platform for e in evs} == set(b.platforms), r.id
            assert all(e.project == "onnxruntime" and str(Version(e.version)) in {str(v) for v in r.versions}
                       for e in evs), r.id
