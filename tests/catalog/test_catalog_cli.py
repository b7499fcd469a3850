"""`rtfit catalog ...` end to end through the real CLI app (Typer's runner, no subprocess)."""

from __future__ import annotations

import csv
import io
import json
import subprocess

from typer.testing import CliRunner

from rtfit.cli import app
from tests.catalog.conftest import write_catalog

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_validate_prints_counts_per_family(tmp_path, mini_docs):
    folder = write_catalog(tmp_path / "c", mini_docs)
    res = run("catalog", "validate", "--catalog", str(folder), "--json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["valid"] and body["counts"]["gpus"] == 2 and body["counts"]["driver_branches"] == 3


def test_validate_broken_catalog_names_each_problem(tmp_path, mini_docs):
    mini_docs["cuda.yaml"]["cuda_toolkits"][0]["min_driver"] = "five-two-five"           # bad version
    mini_docs["gpus.yaml"]["gpus"][1]["source"] = ["missing_doc"]                           # dangling reference
    del mini_docs["drivers.yaml"]["driver_branches"][2]["source"]                            # missing source
    folder = write_catalog(tmp_path / "c", mini_docs)
    res = run("catalog", "validate", "--catalog", str(folder))
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "cuda.yaml: cuda.12.0.0: min_driver: not a valid driver version" in out
    assert "gpus.yaml: gpu.t4: source: unknown source id 'missing_doc'" in out
    assert "drivers.yaml: branch.r550: source: is required" in out


def test_missing_folder_is_a_one_line_error(tmp_path):
    res = run("catalog", "validate", "--catalog", str(tmp_path / "nope"))
    assert res.exit_code == 2
    assert "catalog folder not found" in res.output
    assert "Traceback" not in res.output


def test_why_explains_refusal_and_acceptance(tmp_path, mini_docs):
    folder = write_catalog(tmp_path / "c", mini_docs)
    ok = run("catalog", "why", "pytorch", "2.4.1+cu124", "Tesla T4", "--driver", "535.104.05",
             "--catalog", str(folder), "--json")
    assert ok.exit_code == 0, ok.output
    checks = json.loads(ok.output)["checks"]
    driver = next(c for c in checks if c["rule"] == "driver")
    assert "525.60.13" in driver["message"] and "minor-version" in driver["message"]
    old = run("catalog", "why", "pytorch", "2.4.1+cu124", "T4", "--driver", "520.61.05", "--catalog", str(folder))
    assert old.exit_code == 3
    assert "upgrade the driver to >= 525.60.13" in " ".join(old.output.split())
    unknown = run("catalog", "why", "pytorch", "9.9.9", "T4", "--catalog", str(folder))
    assert unknown.exit_code == 2 and "no pytorch build 9.9.9" in unknown.output


def test_matrix_exports_csv_and_markdown(tmp_path, mini_docs):
    folder = write_catalog(tmp_path / "c", mini_docs)
    res = run("catalog", "matrix", "--kind", "builds", "--format", "csv", "--catalog", str(folder))
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.output)))
    assert rows[0] == ["build", "Tesla T4 (7.5)", "NVIDIA L4 (8.9)"]
    assert rows[1] == ["2.4.1+cu124", "S", "S"]       # sm_80 SASS runs on 8.9 (same major)
    md = run("catalog", "matrix", "--kind", "drivers", "--format", "markdown", "--catalog", str(folder))
    assert "| R525 (12.0) | N | M | M |" in md.output


def test_diff_between_folders_and_git_revisions(tmp_path, mini_docs):
    old = write_catalog(tmp_path / "old", mini_docs)
    mini_docs["drivers.yaml"]["driver_branches"][1]["max_cuda"] = "12.3"
    mini_docs["gpus.yaml"]["gpus"].pop(1)
    new = write_catalog(tmp_path / "new", mini_docs)
    res = run("catalog", "diff", str(old), str(new), "--json")
    assert res.exit_code == 0, res.output
    changes = {c["id"]: c for c in json.loads(res.output)["changes"]}
    assert changes["gpu.t4"]["kind"] == "removed"
    assert changes["branch.r535"]["fields"]["max_cuda"] == {"old": "12.2", "new": "12.3"}
    # the same through git revisions of one folder
    repo = tmp_path / "repo"
    write_catalog(repo / "data", json.loads(json.dumps(mini_docs)))
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    mini_docs["drivers.yaml"]["driver_branches"][1]["max_cuda"] = "12.2"
    write_catalog(repo / "data", mini_docs)
    subprocess.run([*git, "commit", "-qam", "two"], check=True)
    from catalog import load_catalog_from_git
    from catalog.diff import diff_catalogs
    d = diff_catalogs(load_catalog_from_git("HEAD~1", repo / "data"), load_catalog_from_git("HEAD", repo / "data"))
    assert [(c.id, c.fields["max_cuda"]) for c in d.changes] == [("branch.r535", ("12.3", "12.2"))]


METADATA = """Metadata-Version: 2.1
Name: torch
Version: 2.4.1
Requires-Python: >=3.8.0
Requires-Dist: filelock
Requires-Dist: nvidia-cuda-runtime-cu12==12.1.105; platform_system == "Linux" and platform_machine == "x86_64"
Requires-Dist: nvidia-cudnn-cu12==9.1.0.70; platform_system == "Linux" and platform_machine == "x86_64"
"""


def test_import_drafts_a_record_from_wheel_metadata(tmp_path):
    f = tmp_path / "METADATA"
    f.write_text(METADATA)
    res = run("catalog", "import", str(f))
    assert res.exit_code == 0, res.output
    import yaml
    draft = yaml.safe_load(res.stdout)["framework_releases"][0]
    assert draft["framework"] == "pytorch" and draft["versions"] == ["2.4.1"]
    assert draft["builds"][0]["bundled"] == {"cuda": "12.1", "cudnn": "9.1.0.70"}
    assert draft["builds"][0]["variant"] == "cu121" and draft["builds"][0]["platforms"] == ["x86_64"]
    assert draft["python"] == ">=3.8.0"


def test_import_reads_pip_report_pins(tmp_path):
    report = {"install": [
        {"metadata": {"name": "onnxruntime-gpu", "version": "1.20.1", "requires_python": ">=3.10",
                      "requires_dist": ["numpy>=1.21"]}},
        {"metadata": {"name": "numpy", "version": "2.1.0"}},
    ]}
    f = tmp_path / "report.json"
    f.write_text(json.dumps(report))
    res = run("catalog", "import", str(f))
    assert res.exit_code == 0, res.output
    assert "onnxruntime" in res.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = run("catalog", "import", str(bad))
    assert res.exit_code == 2 and "invalid JSON" in res.output


def test_show_takes_gpu_names_and_suggests_close_ids():
    """README: GPU names are accepted everywhere (NVML names, ids, short names), `catalog show` included;
    an unknown id names the close ones (a fresh-clone trial's `catalog show "NVIDIA A40"` was refused)."""
    for name in ("NVIDIA A40", "A40", "gpu.a40"):
        res = run("catalog", "show", name, "--json")
        assert res.exit_code == 0, (name, res.output)
        assert json.loads(res.stdout)["record"]["id"] == "gpu.a40"
    res = run("catalog", "show", "branch.r53")
    assert res.exit_code != 0
    assert "did you mean branch.r535" in " ".join(res.stderr.split())


def test_why_names_whose_evidence_it_cites():
    """`catalog why onnxruntime 1.24.1 A10` said "evidence read from the artifact: onnxruntime-gpu-1.24.4-..."
    as if 1.24.1's own wheel had been read; the files belong to the release record's build (fresh-clone trial)."""
    res = run("catalog", "why", "onnxruntime", "1.24.1", "A10")
    line = next(x for x in res.stdout.splitlines() if "evidence read from" in x)
    assert line.strip().startswith("evidence read from artifacts of onnxruntime.1.24 (default build): "), line
    assert "onnxruntime-gpu-1.24.4" in line


def test_why_judges_a_gpu_on_the_gpu_build_of_a_version_the_cpu_package_shares():
    """onnxruntime 1.31.1 is both a CPU-package release and an onnxruntime-gpu release; `why` on a GPU
    took the CPU build ("ships SASS for [none]") once the catalog recorded CPU builds past 1.20."""
    res = run("catalog", "why", "onnxruntime", "1.31.1", "A10", "--json")
    body = json.loads(res.stdout)
    assert res.exit_code == 0 and body["compatible"], res.output
    assert body["evidence"] == ["onnxruntime-gpu-1.31.1-x86_64.json"]
    # a version only the CPU package has is still judged (and refused) on its CPU build
    res = run("catalog", "why", "onnxruntime", "1.32.0", "A10", "--json")
    assert res.exit_code == 3 and any(c["rule"] == "no-kernel-for-gpu" for c in json.loads(res.stdout)["checks"])
