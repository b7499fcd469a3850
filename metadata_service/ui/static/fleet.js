// Fleet: every node the agents reported, with GPUs, free GPUs, driver and the newest CUDA that
// driver runs (from the active catalog), cached components, last heartbeat and staleness.

import { get } from "./api.js";
import { badge, fmtDuration, fmtTime, h, mount, options } from "./dom.js";

const gpuText = (g) => `${g.count ?? 1}× ${g.product}`;
const freeOf = (n) => n.gpus.reduce((acc, g) => acc + (g.free ?? g.count ?? 1), 0);
const totalOf = (n) => n.gpus.reduce((acc, g) => acc + (g.count ?? 1), 0);

function driverBranch(version) {
  return version ? `R${String(version).split(".")[0]}` : "no driver";
}

function matches(node, filters) {
  if (filters.cluster && (node.cluster || "(none)") !== filters.cluster) return false;
  if (filters.product && !node.gpus.some((g) => g.product === filters.product)) return false;
  if (filters.driver && driverBranch(node.driver_version) !== filters.driver) return false;
  if (filters.state === "live" && node.stale) return false;
  if (filters.state === "stale" && !node.stale) return false;
  return true;
}

function nodeRow(node, cuda) {
  const maxCuda = node.driver_version ? cuda[node.driver_version] : null;
  const seen = node.last_seen === null ? "never" : `${fmtDuration(node.age_s)} ago`;
  return h("tr", { dataset: { node: node.name, stale: String(node.stale) } },
    h("td.name", {}, node.name),
    h("td", {}, node.cluster || "—"),
    h("td", {}, node.arch),
    h("td.gpus", {}, node.gpus.length ? node.gpus.map((g) => h("div", { title: gpuTitle(g) }, gpuText(g))) : "CPU only"),
    h("td.num.free", {}, node.gpus.length ? `${freeOf(node)} / ${totalOf(node)}` : "—"),
    h("td.driver", {}, node.driver_version || "none"),
    h("td.cuda", { title: maxCuda ? `${maxCuda.branch} (${maxCuda.record})` : "" },
      node.driver_version ? (maxCuda ? maxCuda.max_cuda : "unknown branch") : "—"),
    h("td.cached", {}, node.cached_components.length
      ? h("div.chips", {}, node.cached_components.map((c) => h("span.chip", {}, c))) : "—"),
    h("td", { title: fmtTime(node.last_seen) }, seen),
    h("td", {}, node.stale ? badge("stale") : badge("live")),
  );
}

function gpuTitle(g) {
  const parts = [g.product];
  if (g.memory_mib) parts.push(`${Math.round(g.memory_mib / 1024)} GiB`);
  if (g.compute_capability) parts.push(`CC ${g.compute_capability}`);
  return parts.join(" · ");
}

export async function renderFleet(root) {
  const nodes = await get("/v1/nodes", { limit: 10000 });
  const drivers = [...new Set(nodes.map((n) => n.driver_version).filter(Boolean))];
  const cuda = drivers.length ? await get("/ui/api/drivers", { version: drivers }) : {};

  const clusters = [...new Set(nodes.map((n) => n.cluster || "(none)"))].sort();
  const products = [...new Set(nodes.flatMap((n) => n.gpus.map((g) => g.product)))].sort();
  const branches = [...new Set(nodes.map((n) => driverBranch(n.driver_version)))].sort();
  const filters = { cluster: "", product: "", driver: "", state: "" };

  const summary = h("div.cards");
  const tbody = h("tbody");
  const filterSelect = (key, label, values) => h("label", {}, label,
    h("select", { id: `filter-${key}`, onchange: (ev) => { filters[key] = ev.target.value; draw(); } },
      h("option", { value: "" }, "all"), options(values)));

  function draw() {
    const shown = nodes.filter((n) => matches(n, filters));
    const live = shown.filter((n) => !n.stale);
    mount(summary,
      card("nodes", shown.length, `${live.length} live, ${shown.length - live.length} stale`),
      card("GPUs", shown.reduce((a, n) => a + totalOf(n), 0), `${live.reduce((a, n) => a + freeOf(n), 0)} free on live nodes`),
      card("clusters", new Set(shown.map((n) => n.cluster || "(none)")).size, ""),
      card("GPU products", new Set(shown.flatMap((n) => n.gpus.map((g) => g.product))).size, ""));
    mount(tbody, shown.length ? shown.map((n) => nodeRow(n, cuda))
      : h("tr", {}, h("td.empty", { colspan: 10 }, nodes.length ? "No node matches the filters." :
        "No node has reported yet. Start an agent: rtfit agent run --server URL")));
  }

  mount(root,
    h("h1", {}, "Fleet"),
    h("p.muted", {}, "Nodes as their agents last reported them. A node is stale when its heartbeats stopped for " +
      "longer than the service's TTL; selection does not place work on stale nodes."),
    summary,
    h("div.filters", {}, filterSelect("cluster", "Cluster", clusters), filterSelect("product", "GPU product", products),
      filterSelect("driver", "Driver", branches), filterSelect("state", "State", ["live", "stale"])),
    h("div.table-wrap", {}, h("table.grid#fleet-table", {},
      h("thead", {}, h("tr", {}, ["Node", "Cluster", "Arch", "GPUs", "Free", "Driver", "Max CUDA",
        "Cached components", "Last heartbeat", "State"].map((t) => h("th", {}, t)))),
      tbody)));
  draw();
}

function card(title, value, sub) {
  return h("div.card", {}, h("div.card-value", {}, String(value)), h("div.card-title", {}, title),
    sub ? h("div.card-sub", {}, sub) : null);
}
