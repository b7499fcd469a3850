"""The console's pages in headless Chromium against the live service: each loads without console
errors and shows what the API holds (fleet, catalog and its matrices and diff), and the token's
role decides which actions are offered."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from ui_harness import NODES, STALE_NODE, ConsolePage, LiveService


def test_ui_index_is_served_with_a_strict_policy(live_service: LiveService) -> None:
    import httpx

    resp = httpx.get(f"{live_service.url}/ui/")
    assert resp.status_code == 200
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    assert '<script type="module" src="/ui/static/app.js">' in resp.text
    refs = re.findall(r'(?:src|href)="([^"]*)"', resp.text)
    assert refs and all(r.startswith(("/", "#")) and not r.startswith("//") for r in refs), refs  # nothing external
    for ref in refs:
        if ref.startswith("/ui/"):
            assert httpx.get(f"{live_service.url}{ref}").status_code == 200, ref
    assert httpx.get(f"{live_service.url}/ui/static/dag.js").status_code == 200
    assert httpx.get(f"{live_service.url}/ui/api/whoami").status_code == 401  # the console API is not open


def test_ui_without_token_asks_for_one(console: ConsolePage) -> None:
    page = console.page
    page.goto(f"{console.service.url}/ui/#/fleet")
    page.wait_for_selector("#page[data-ready='true']")
    assert "Paste a bearer token" in page.inner_text("#page")
    assert page.inner_text("#who") == "not signed in"
    assert console.errors == []


def test_ui_fleet_shows_nodes_with_cuda_and_staleness(console: ConsolePage, live_service: LiveService) -> None:
    console.sign_in("reader")
    console.open("fleet")
    page = console.page
    page.wait_for_selector("#fleet-table tbody tr[data-node]")
    with live_service.client() as c:
        api_nodes = {n["name"]: n for n in c.get("/v1/nodes").json()}
        cuda = c.get("/ui/api/drivers", params={"version": ["550.54.15", "535.104.05"]}).json()
    rows = {r.get_attribute("data-node"): r for r in page.query_selector_all("#fleet-table tbody tr[data-node]")}
    assert set(rows) == set(api_nodes) == {n["name"] for n in NODES} | {STALE_NODE["name"]}
    assert rows["edge-02"].get_attribute("data-stale") == "true"
    assert "stale" in rows["edge-02"].inner_text()
    assert rows["edge-01"].get_attribute("data-stale") == "false"
    assert rows["edge-01"].query_selector("td.free").inner_text() == "1 / 2"
    assert rows["edge-01"].query_selector("td.cuda").inner_text() == cuda["535.104.05"]["max_cuda"]
    assert rows["dc-a100-01"].query_selector("td.cuda").inner_text() == cuda["550.54.15"]["max_cuda"]
    assert "8× NVIDIA A100-SXM4-80GB" in rows["dc-a100-01"].query_selector("td.gpus").inner_text()
    assert "cuda/12.4.1" in rows["dc-a100-01"].query_selector("td.cached").inner_text()
    assert rows["cpu-01"].query_selector("td.gpus").inner_text() == "CPU only"

    page.select_option("#filter-cluster", "edge-seoul")
    shown = {r.get_attribute("data-node") for r in page.query_selector_all("#fleet-table tbody tr[data-node]")}
    assert shown == {"edge-01", "edge-02", "cpu-01"}
    page.select_option("#filter-product", "NVIDIA L4")
    shown = {r.get_attribute("data-node") for r in page.query_selector_all("#fleet-table tbody tr[data-node]")}
    assert shown == {"edge-01"}
    page.select_option("#filter-product", "")
    page.select_option("#filter-cluster", "")
    page.select_option("#filter-driver", "R535")
    shown = {r.get_attribute("data-node") for r in page.query_selector_all("#fleet-table tbody tr[data-node]")}
    assert shown == {"edge-01"}
    page.select_option("#filter-driver", "")
    page.select_option("#filter-state", "stale")
    shown = {r.get_attribute("data-node") for r in page.query_selector_all("#fleet-table tbody tr[data-node]")}
    assert shown == {"edge-02"}
    assert console.errors == []


def test_ui_catalog_revision_matrix_and_diff(console: ConsolePage, live_service: LiveService) -> None:
    console.sign_in("reader")
    console.open("catalog")
    page = console.page
    with live_service.client() as c:
        active = c.get("/v1/catalog").json()
        api_matrix = c.get("/ui/api/matrix", params={"kind": "builds", "framework": "pytorch", "latest": 6}).json()
        drivers = c.get("/ui/api/matrix", params={"kind": "drivers"}).json()
    assert page.inner_text("#active-revision") == active["revision"] == live_service.notes["active_revision"]
    assert page.query_selector_all("#family-tabs .tab")  # component families listed

    page.wait_for_selector("#matrix-table td.cell")
    cells = page.query_selector_all("#matrix-table tbody tr")
    assert len(cells) == len(api_matrix["rows"])
    first = api_matrix["rows"][0]
    bad = next(i for i, cell in enumerate(first["cells"]) if not cell["ok"])
    td = page.query_selector(f"#matrix-table td[data-row='0'][data-col='{bad}']")
    assert td.inner_text() == first["cells"][bad]["mark"]
    assert first["cells"][bad]["reason"] in td.get_attribute("title")
    td.click()
    detail = page.inner_text("#cell-detail")
    assert "does not work" in detail
    failed = [c for c in first["cells"][bad]["checks"] if not c["ok"]]
    assert failed and all(c["rule"] in detail for c in failed)
    links = [a.get_attribute("href") for a in page.query_selector_all("#cell-detail a")]
    assert failed[0]["sources"][0]["url"] in links

    page.select_option("#matrix-kind", "drivers")
    page.wait_for_selector("#matrix-table[data-kind='drivers']")
    assert len(page.query_selector_all("#matrix-table tbody tr")) == len(drivers["rows"])
    assert [th.inner_text() for th in page.query_selector_all("#matrix-table th.col")] == drivers["columns"]

    page.click("#diff-run")
    page.wait_for_selector("#diff-table")
    rows = page.query_selector_all("#diff-table tbody tr")
    assert len(rows) == 1 and "gpu.l4" in rows[0].inner_text() and "memory_mib" in rows[0].inner_text()
    assert console.errors == []


def test_ui_reader_gets_no_write_actions_admin_does(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    assert page.query_selector("#register") is None
    assert "needs an admin token" in page.inner_text("#readonly-note")

    console.sign_in("admin")
    console.open("select")
    page.fill("input[name=framework_version]", ">=2.2")
    page.fill("#register-name", "ui-registered")
    page.click("#register")
    page.wait_for_selector("#select-result .notice")
    assert "Registered model 'ui-registered'" in page.inner_text("#select-result")
    with console.service.client() as c:
        stored = c.get("/v1/models/ui-registered").json()
    assert stored["request"]["framework_version"] == ">=2.2"
    assert console.errors == []


def test_ui_reader_write_is_refused_by_the_api(live_service: LiveService) -> None:
    """The console hides write actions from readers, and the API refuses them anyway."""
    with live_service.client("reader") as c:
        resp = c.post("/v1/models", json={"name": "nope", "request": {"framework": "none", "gpu_count": 0}})
    assert resp.status_code == 403


def test_ui_static_files_are_package_data() -> None:
    """Every console asset matches a package-data pattern, so a wheel ships it."""
    from metadata_service.ui import STATIC_DIR

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "app.js", "console.css", "dag.js"}
    missing = [p.name for p in files if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    assert not missing, f"not covered by [tool.setuptools.package-data] '*': {missing}"
    assert all(p.parent == STATIC_DIR for p in files), "sub-folders of static/ need their own patterns"
