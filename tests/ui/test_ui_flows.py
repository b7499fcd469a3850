"""Flow runs in the browser: the run list, and a run's DAG drawn as SVG with each task's state as
its class and colour, edges from `depends` (conditional ones marked), task details and logs."""

from __future__ import annotations

from ui_harness import FLOW_SPEC, RUN_ID, TASK_STATES, ConsolePage

# The CSS custom properties each state's box is filled and stroked with (console.css).
STATE_VARS = {s: (f"--{s.lower()}-bg", f"--{s.lower()}") for s in ("Pending", "Running", "Succeeded", "Failed", "Skipped")}


def test_ui_flow_list_shows_the_run(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("flows")
    row = console.page.wait_for_selector(f"#runs-table tr[data-run='{RUN_ID}']")
    text = row.inner_text()
    assert FLOW_SPEC["name"] in text and "Running" in text  # a task is still running
    assert "1 failed" in text and "2 succeeded" in text and "1 skipped" in text
    assert console.errors == []


def test_ui_flow_graph_shows_task_states(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("flows")
    page = console.page
    page.click(f"#runs-table tr[data-run='{RUN_ID}'] a")
    page.wait_for_selector("svg#dag g.dag-node")
    with console.service.client() as c:
        run = c.get(f"/v1/flows/{RUN_ID}").json()
    assert {name: t["state"] for name, t in run["tasks"].items()} == TASK_STATES

    colours = page.evaluate("""() => {
        const css = getComputedStyle(document.documentElement);
        const out = {};
        for (const g of document.querySelectorAll('svg#dag g.dag-node')) {
            const rect = getComputedStyle(g.querySelector('rect'));
            out[g.dataset.task] = {state: g.dataset.state, cls: g.getAttribute('class'),
                                   fill: rect.fill, stroke: rect.stroke};
        }
        const probe = document.createElement('div');
        document.body.append(probe);
        const resolve = (v) => { probe.style.color = css.getPropertyValue(v).trim(); return getComputedStyle(probe).color; };
        const palette = {};
        for (const s of ['pending', 'running', 'succeeded', 'failed', 'skipped']) {
            palette[s] = {fill: resolve(`--${s}-bg`), stroke: resolve(`--${s}`)};
        }
        probe.remove();
        return {nodes: out, palette};
    }""")
    nodes, palette = colours["nodes"], colours["palette"]
    assert set(nodes) == set(TASK_STATES)
    assert len({p["stroke"] for p in palette.values()}) == 5  # five distinct colours
    for task, state in TASK_STATES.items():
        node = nodes[task]
        assert node["state"] == state
        assert f"state-{state.lower()}" in node["cls"].split()
        assert node["fill"] == palette[state.lower()]["fill"], (task, node)
        assert node["stroke"] == palette[state.lower()]["stroke"], (task, node)

    edges = {(e.get_attribute("data-from"), e.get_attribute("data-to"), e.get_attribute("data-when"))
             for e in page.query_selector_all("svg#dag g.dag-edge")}
    assert edges == {
        ("train", "validate", "Succeeded"), ("train", "export", "Succeeded"), ("export", "quantize", "Succeeded"),
        ("train", "notify-failure", "Failed"), ("export", "notify-failure", "Failed"),
        ("validate", "publish", "Succeeded"), ("quantize", "publish", "Succeeded"),
    }
    assert "conditional" in page.get_attribute("svg#dag g.dag-edge[data-to='notify-failure']", "class")

    # Layered left to right: every edge points right.
    xs = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('svg#dag g.dag-node')]
        .map(g => [g.dataset.task, g.getBoundingClientRect().x]))""")
    assert all(xs[a] < xs[b] for a, b, _ in edges)

    # Task table: node, runtime, state as the API has them.
    row = page.query_selector("#tasks-table tr[data-task='train']")
    assert row.query_selector("td.node").inner_text() == run["tasks"]["train"]["node"]
    assert "pytorch 2.4.1+cu124" in row.inner_text()
    assert row.query_selector("td.duration").inner_text() == "10 min 0 s"

    # Clicking a task in the graph shows its log.
    page.click("svg#dag g.dag-node[data-task='export']")
    page.wait_for_selector("#task-log[data-task='export']")
    with console.service.client() as c:
        log = c.get(f"/v1/flows/{RUN_ID}/tasks/export/logs").text
    assert page.text_content("#task-log") == log and "RuntimeError" in log
    assert "selected" in page.get_attribute("svg#dag g.dag-node[data-task='export']", "class")
    assert console.errors == []


def test_ui_flow_unknown_run_is_a_clear_error(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("flows/no-such-run")
    text = console.page.inner_text("#page")
    assert "no flow run with id 'no-such-run'" in text
    assert all("404" in e for e in console.errors), console.errors
