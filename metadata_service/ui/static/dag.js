// The flow DAG as inline SVG: edges from each task's `depends` (a name, a list, or an
// expression such as "train.Failed || export.Failed"), a layered left-to-right layout
// (layer = longest path from a root; order inside a layer by the barycentre of its parents),
// and one box per task coloured by its state.

import { s } from "./dom.js";

// The same tokens as workflow/expr.py: operators, and refs TASK[.STATE].
const TOKEN = /\s*(?:(&&|\|\||!|\(|\))|([A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z]+)?))/y;

/** [{task, state}] referenced by a depends value (string expression or list). */
export function dependsRefs(depends) {
  if (depends === null || depends === undefined) return [];
  const text = Array.isArray(depends) ? depends.map(String).join(" && ") : String(depends);
  const refs = [];
  TOKEN.lastIndex = 0;
  let m;
  while (TOKEN.lastIndex < text.length && (m = TOKEN.exec(text)) !== null) {
    if (m[2]) {
      const [task, state] = m[2].split(".");
      refs.push({ task, state: state || "Succeeded" });
    }
  }
  return refs;
}

/** {nodes: [{name, layer, order}], edges: [{from, to, state}]} for task names and the flow spec. */
export function layout(taskNames, spec) {
  const specTasks = Array.isArray(spec?.tasks) ? spec.tasks : [];
  const names = [...new Set([...specTasks.map((t) => t.name), ...taskNames])];
  const known = new Set(names);
  const edges = [];
  for (const t of specTasks) {
    const seen = new Set();
    for (const ref of dependsRefs(t.depends)) {
      const key = `${ref.task}.${ref.state}`;
      if (known.has(ref.task) && ref.task !== t.name && !seen.has(key)) {
        seen.add(key);
        edges.push({ from: ref.task, to: t.name, state: ref.state });
      }
    }
  }
  const parents = Object.fromEntries(names.map((n) => [n, edges.filter((e) => e.to === n).map((e) => e.from)]));
  const layer = {};
  const visiting = new Set();
  const depth = (n) => {
    if (layer[n] !== undefined) return layer[n];
    if (visiting.has(n)) return 0; // a cycle cannot run; draw it flat rather than loop
    visiting.add(n);
    layer[n] = parents[n].length ? 1 + Math.max(...parents[n].map(depth)) : 0;
    visiting.delete(n);
    return layer[n];
  };
  names.forEach(depth);
  // Edges that skip layers get a virtual point in each layer they cross, so that ordering keeps
  // boxes out of their way and the path bends around them.
  const layers = [];
  names.forEach((n) => (layers[layer[n]] ||= []).push(n));
  const virtualParents = {};
  for (const e of edges) {
    e.via = [];
    let prev = e.from;
    for (let l = layer[e.from] + 1; l < layer[e.to]; l++) {
      const v = `\u0000${e.from}>${e.to}.${e.state}@${l}`;
      layers[l].push(v);
      virtualParents[v] = [prev];
      e.via.push(v);
      prev = v;
    }
    e.last = prev;
  }
  const parentsOf = (n) => virtualParents[n] ||
    edges.filter((e) => e.to === n).map((e) => e.last);
  const order = {};
  layers.forEach((members, li) => {
    if (li > 0) {
      const bary = (n) => {
        const ps = parentsOf(n);
        return ps.length ? ps.reduce((acc, p) => acc + order[p], 0) / ps.length : 0;
      };
      const before = new Map(members.map((n, i) => [n, i]));
      members.sort((a, b) => bary(a) - bary(b) || before.get(a) - before.get(b));
    }
    members.forEach((n, i) => { order[n] = i; });
  });
  return { nodes: names.map((n) => ({ name: n, layer: layer[n], order: order[n] })), edges, layers, order, layer };
}

const W = 210;
const H = 58;
const GAP_X = 80;
const GAP_Y = 26;
const PAD = 20;

/** An <svg> element for the run: `tasks` maps names to {state, node, ...}; `onSelect(name)` on click. */
export function drawDag(tasks, spec, { onSelect, selected, detail } = {}) {
  const { nodes, edges, layers } = layout(Object.keys(tasks), spec);
  const tallest = Math.max(1, ...layers.map((l) => (l ? l.length : 0)));
  const width = PAD * 2 + layers.length * W + Math.max(0, layers.length - 1) * GAP_X;
  const height = PAD * 2 + tallest * H + (tallest - 1) * GAP_Y;
  const pos = {};
  layers.forEach((members, li) => {
    const offset = ((tallest - members.length) * (H + GAP_Y)) / 2;
    members.forEach((n, i) => { pos[n] = { x: PAD + li * (W + GAP_X), y: PAD + offset + i * (H + GAP_Y) }; });
  });
  const svg = s("svg", {
    class: "dag", id: "dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `task graph: ${nodes.length} tasks, ${edges.length} dependencies`,
  });
  svg.append(s("defs", {}, ["plain", "conditional"].map((k) => s("marker", {
    id: `arrow-${k}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  }, s("path", { d: "M0,0 L10,5 L0,10 z", class: `arrow arrow-${k}` })))));
  for (const e of edges) {
    // Points: out of the source's right side, through each virtual point, into the target's left.
    const pts = [[pos[e.from].x + W, pos[e.from].y + H / 2]];
    for (const v of e.via) pts.push([pos[v].x, pos[v].y + H / 2], [pos[v].x + W, pos[v].y + H / 2]);
    pts.push([pos[e.to].x, pos[e.to].y + H / 2]);
    let d = `M${pts[0][0]},${pts[0][1]}`;
    for (let i = 1; i < pts.length; i++) {
      const [x1, y1] = pts[i - 1];
      const [x2, y2] = pts[i];
      if (i % 2 === 1) {
        const mid = (x1 + x2) / 2;
        d += ` C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
      } else {
        d += ` L${x2},${y2}`;
      }
    }
    const conditional = e.state !== "Succeeded";
    const g = s("g", { class: `dag-edge${conditional ? " conditional" : ""}`, "data-from": e.from, "data-to": e.to,
      "data-when": e.state });
    g.append(s("path", { d, "marker-end": `url(#arrow-${conditional ? "conditional" : "plain"})` }));
    if (conditional) {
      const [x1, y1] = pts[pts.length - 2];
      const [x2, y2] = pts[pts.length - 1];
      g.append(s("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 5, class: "edge-label", "text-anchor": "middle" },
        `if ${e.state}`));
    }
    svg.append(g);
  }
  for (const n of nodes) {
    const t = tasks[n.name] || { state: "Pending" };
    const state = String(t.state || "Pending").toLowerCase();
    const { x, y } = pos[n.name];
    const g = s("g", {
      class: `dag-node state-${state}${selected === n.name ? " selected" : ""}`,
      "data-task": n.name, "data-state": t.state, transform: `translate(${x},${y})`, tabindex: 0, role: "button",
      "aria-label": `${n.name}: ${t.state}`,
    });
    g.append(s("title", {}, `${n.name}: ${t.state}${t.node ? ` on ${t.node}` : ""}${t.message ? ` — ${t.message}` : ""}`));
    g.append(s("rect", { width: W, height: H, rx: 8, ry: 8 }));
    g.append(s("circle", { cx: 16, cy: 18, r: 6, class: "state-dot" }));
    g.append(s("text", { x: 28, y: 22, class: "task-name" }, clip(n.name, 20)));
    g.append(s("text", { x: 12, y: 44, class: "task-sub" }, clip(detail ? detail(n.name, t) : t.state, 31)));
    if (onSelect) {
      g.addEventListener("click", () => onSelect(n.name));
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onSelect(n.name); });
    }
    svg.append(g);
  }
  return svg;
}

function clip(text, n) {
  const str = String(text);
  return str.length > n ? `${str.slice(0, n - 1)}…` : str;
}
