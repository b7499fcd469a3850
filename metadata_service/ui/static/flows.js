// Flows: recent runs, and one run with its DAG (task state by colour), each task's node,
// runtime and duration, and its log.

import { explain, get } from "./api.js";
import { badge, fmtDuration, fmtTime, h, mount, notice } from "./dom.js";
import { drawDag } from "./dag.js";

const STATES = ["Pending", "Running", "Succeeded", "Failed", "Skipped"];
const REFRESH_MS = 5000;

export async function renderFlows(root, { args }) {
  if (args[0]) return renderRun(root, args[0], args[1]);
  const runs = await get("/v1/flows", { limit: 200 });
  mount(root,
    h("h1", {}, "Flow runs"),
    h("p.muted", {}, "Runs written by the flow runner (rtfit flow run --server URL), newest first."),
    runs.length ? h("div.table-wrap", {}, h("table.grid#runs-table", {},
      h("thead", {}, h("tr", {}, ["run", "flow", "state", "tasks", "backend", "by", "started", "updated"].map((t) => h("th", {}, t)))),
      h("tbody", {}, runs.map((r) => h("tr", { dataset: { run: r.id } },
        h("td.mono", {}, h("a", { href: `#/flows/${encodeURIComponent(r.id)}` }, r.id)),
        h("td", {}, r.flow), h("td", {}, badge(r.state)), h("td", {}, stateCounts(r.tasks)),
        h("td", {}, r.backend || "—"), h("td", {}, r.created_by),
        h("td", {}, fmtTime(r.created_at)), h("td", {}, fmtTime(r.updated_at))))))) :
      notice("No flow run yet. Run one with: rtfit flow run FLOW.yaml --backend local --server URL"));
  return null;
}

function stateCounts(tasks) {
  const counts = {};
  for (const t of Object.values(tasks)) counts[t.state] = (counts[t.state] || 0) + 1;
  return h("span.state-counts", {}, STATES.filter((s) => counts[s]).map((s) => h(`span.mini.state-${s.toLowerCase()}`,
    { title: s }, `${counts[s]} ${s.toLowerCase()}`)));
}

function duration(t, now) {
  if (!t.started_at) return null;
  // Clamped: the browser's clock may run behind the service's.
  return Math.max(0, (t.finished_at ?? (t.state === "Running" ? now : t.started_at)) - t.started_at);
}

async function renderRun(root, runId, selectedTask) {
  let timer = null;
  let selected = selectedTask || null;
  const graph = h("div.dag-wrap#dag-wrap");
  const tasksBody = h("tbody");
  const logBox = h("section.panel#log-panel", {}, h("p.muted", {}, "Click a task to see its log."));
  const header = h("div");
  mount(root, h("p", {}, h("a", { href: "#/flows" }, "← all runs")), header,
    h("section.panel", {}, h("h2", {}, "Graph"), legend(), graph),
    h("section.panel", {}, h("h2", {}, "Tasks"), h("div.table-wrap", {}, h("table.grid#tasks-table", {},
      h("thead", {}, h("tr", {}, ["task", "state", "node", "runtime", "started", "duration", "exit", "message"].map((t) => h("th", {}, t)))),
      tasksBody))),
    logBox);

  async function showLog(name) {
    selected = name;
    for (const el of root.querySelectorAll(".dag-node")) el.classList.toggle("selected", el.dataset.task === name);
    for (const el of tasksBody.querySelectorAll("tr")) el.classList.toggle("selected", el.dataset.task === name);
    mount(logBox, h("h2", {}, `Log of ${name}`), h("p.muted", {}, "Loading…"));
    try {
      const text = await get(`/v1/flows/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(name)}/logs`);
      mount(logBox, h("h2", {}, `Log of ${name}`),
        text ? h("pre.log#task-log", { dataset: { task: name } }, text) : h("p.muted#task-log", { dataset: { task: name } }, "(empty log)"));
    } catch (e) {
      mount(logBox, h("h2", {}, `Log of ${name}`), notice(explain(e), "error"));
    }
  }

  async function load() {
    const run = await get(`/v1/flows/${encodeURIComponent(runId)}`);
    const now = Date.now() / 1000;
    mount(header, h("h1", {}, `${run.flow} `, badge(run.state)),
      h("dl.kv", {}, h("dt", {}, "run"), h("dd.mono#run-id", {}, run.id), h("dt", {}, "backend"), h("dd", {}, run.backend || "—"),
        h("dt", {}, "started"), h("dd", {}, fmtTime(run.created_at)), h("dt", {}, "updated"), h("dd", {}, fmtTime(run.updated_at)),
        h("dt", {}, "by"), h("dd", {}, run.created_by)));
    const detail = (name, t) => [t.state, t.node, fmtDuration(duration(t, now) ?? NaN)].filter((x) => x && x !== "—").join(" · ");
    mount(graph, drawDag(run.tasks, run.spec, { onSelect: showLog, selected, detail }));
    mount(tasksBody, Object.entries(run.tasks).map(([name, t]) => h(`tr${selected === name ? ".selected" : ""}`,
      { dataset: { task: name, state: t.state }, onclick: () => showLog(name) },
      h("td", {}, h("button.linkish", { type: "button" }, name)),
      h("td", {}, badge(t.state)), h("td.node", {}, t.node || "—"),
      h("td", {}, t.runtime ? h("div.chips", {}, Object.entries(t.runtime).map(([k, v]) => h("span.chip", {}, `${k} ${v}`))) : "—"),
      h("td", {}, fmtTime(t.started_at)), h("td.duration", {}, fmtDuration(duration(t, now))),
      h("td", {}, t.exit_code ?? "—"), h("td.message", {}, t.message || ""))));
    return run;
  }

  const run = await load();
  if (selected) await showLog(selected);
  if (run.state === "Running" || run.state === "Pending") {
    timer = setInterval(async () => {
      try {
        const latest = await load();
        if (latest.state !== "Running" && latest.state !== "Pending") clearInterval(timer);
      } catch (e) {
        clearInterval(timer);
        header.append(notice(explain(e), "error"));
      }
    }, REFRESH_MS);
  }
  return () => clearInterval(timer);
}

function legend() {
  return h("div.legend", {}, STATES.map((s) => h(`span.legend-item.state-${s.toLowerCase()}`, {}, h("span.swatch"), s)),
    h("span.legend-item", {}, h("span.swatch.dashed"), "runs on a condition (e.g. if Failed)"));
}
