"""CLI start-up as whole processes: `rtfit --help`, `rtfit --version`, a one-node `rtfit select`.

Each command is run `--repeats` times as a fresh process (median wall time and median CPU time
of the child, user + system), interleaved across the rtfit executables given, so that two
builds measured in one invocation see the same machine load. `python -c pass` of each
executable's interpreter is the floor. The catalog cache is warmed by one untimed run first
(that is the steady state; `--cold` clears `RTFIT_CACHE_DIR` before every select run instead).

    .venv/bin/python bench/startup_bench.py                                   # this checkout
    .venv/bin/python bench/startup_bench.py --rtfit before=../rtfit-main/.venv/bin/rtfit \\
        --rtfit after=.venv/bin/rtfit --repeats 9                               # A/B, ratios
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUEST = "framework: pytorch\nprecision: fp16\n"
INVENTORY = 'nodes:\n  - {name: l4-1, driver_version: "550.54.15", gpus: [{product: L4}]}\n'


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 3) and "--version" not in argv:  # old builds lack --version
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtfit", action="append", default=[],
                    help="LABEL=PATH of an rtfit executable (repeatable; default: this checkout's .venv)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cold", action="store_true", help="empty catalog cache before every select run")
    ap.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = ap.parse_args()
    builds = [x.split("=", 1) for x in args.rtfit] or [["this", str(Path(".venv/bin/rtfit").resolve())]]
    work = Path(tempfile.mkdtemp(prefix="rtfit-startup-"))
    (work / "model.yaml").write_text(REQUEST)
    (work / "nodes.yaml").write_text(INVENTORY)
    cases = {
        "python -c pass": None,
        "rtfit --help": ["--help"],
        "rtfit --version": ["--version"],
        "rtfit select (1 node)": ["select", "-m", str(work / "model.yaml"), "-i", str(work / "nodes.yaml")],
    }
    env = dict(os.environ, RTFIT_CACHE_DIR=str(work / "cache"), COLUMNS="100")
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _label, exe in builds:  # warm the catalog cache and the OS page cache, untimed
        _run([exe, *cases["rtfit select (1 node)"]], env)
    for _ in range(args.repeats):
        for case, argv in cases.items():
            for label, exe in builds:
                if argv is None:
                    python = str(Path(exe).parent / "python")
                    cmd = [python, "-c", "pass"]
                else:
                    cmd = [exe, *argv]
                    if args.cold and argv[0] == "select":
                        shutil.rmtree(work / "cache", ignore_errors=True)
                times.setdefault((case, label), []).append(_run(cmd, env))
    rows = []
    for (case, label), samples in times.items():
        rows.append({"case": case, "build": label,
                     "wall_s": statistics.median(w for w, _ in samples),
                     "cpu_s": statistics.median(c for _, c in samples), "runs": len(samples)})
    print(f"{'case':26} {'build':10} {'median wall':>12} {'median cpu':>11}")
    for r in rows:
        print(f"{r['case']:26} {r['build']:10} {r['wall_s']:11.3f}s {r['cpu_s']:10.3f}s")
    if len(builds) == 2:
        a, b = builds[0][0], builds[1][0]
        print(f"\nratios {a} / {b} (median wall, median cpu):")
        for case in cases:
            ra = next(r for r in rows if r["case"] == case and r["build"] == a)
            rb = next(r for r in rows if r["case"] == case and r["build"] == b)
            print(f"  {case:26} {ra['wall_s'] / rb['wall_s']:5.2f}x {ra['cpu_s'] / max(rb['cpu_s'], 1e-9):5.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpu(s)", file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
