// Catalog: the active revision, component families, the compatibility matrices (each cell's
// reason and cited sources on hover and click) and a diff between two stored revisions.

import { explain, get } from "./api.js";
import { fmtTime, h, mount, notice, options, shortRev } from "./dom.js";

const FAMILY_ORDER = ["driver", "cuda", "cudnn", "python", "gpu", "pytorch", "tensorflow", "onnxruntime", "tensorrt",
  "jax", "vllm", "sglang", "tensorrt-llm"];

export async function renderCatalog(root) {
  const [active, rows, revisions] = await Promise.all([
    get("/v1/catalog"), get("/v1/catalog/components"), get("/ui/api/catalog/revisions"),
  ]);
  const families = groupBy(rows, (r) => r.kind);
  const kinds = Object.keys(families).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

  const familyBody = h("div#family");
  const matrixBody = h("div#matrix");
  const diffBody = h("div#diff");

  mount(root,
    h("h1", {}, "Catalog"),
    h("section.panel#revision", {},
      h("h2", {}, "Active revision"),
      h("dl.kv", {},
        h("dt", {}, "revision"), h("dd.mono#active-revision", { title: active.revision }, active.revision),
        h("dt", {}, "activated"), h("dd", {}, fmtTime(active.activated_at)),
        h("dt", {}, "source"), h("dd", {}, active.source)),
      h("div.counts", {}, Object.entries(active.counts).map(([k, v]) =>
        h("div.count", {}, h("span.count-value", {}, String(v)), h("span.count-name", {}, k.replaceAll("_", " ")))))),
    h("section.panel", {},
      h("h2", {}, "Component families"),
      h("div.tabs#family-tabs", { role: "tablist" }, kinds.map((k) =>
        h("button.tab", { type: "button", role: "tab", dataset: { kind: k }, onclick: () => showFamily(k) },
          `${k} (${families[k].length})`))),
      familyBody),
    h("section.panel", {},
      h("h2", {}, "Compatibility matrix"),
      matrixControls(matrixBody),
      matrixBody),
    h("section.panel", {},
      h("h2", {}, "Diff between revisions"),
      diffControls(revisions, diffBody),
      diffBody));

  function showFamily(kind) {
    for (const b of root.querySelectorAll("#family-tabs .tab")) b.classList.toggle("active", b.dataset.kind === kind);
    mount(familyBody, familyTable(families[kind] || []));
  }
  if (kinds.length) showFamily(kinds[0]);
  await loadMatrix(matrixBody, { kind: "builds", framework: "pytorch", latest: 6 });
}

function rank(kind) {
  const i = FAMILY_ORDER.indexOf(kind);
  return i < 0 ? FAMILY_ORDER.length : i;
}

function groupBy(items, key) {
  const out = {};
  for (const item of items) (out[key(item)] ||= []).push(item);
  return out;
}

function familyTable(rows) {
  const extras = [...new Set(rows.flatMap((r) => Object.keys(r)))]
    .filter((k) => !["kind", "name", "version", "id", "source"].includes(k));
  return h("div.table-wrap", {}, h("table.grid.compact", {},
    h("thead", {}, h("tr", {}, ["name", "version", ...extras, "record", "sources"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("td", {}, r.name), h("td.mono", {}, r.version),
      extras.map((k) => h("td", {}, fmtExtra(k, r[k]))),
      h("td.mono", {}, r.id), h("td.muted", {}, (r.source || []).join(", ")))))));
}

function fmtExtra(key, value) {
  if (value === null || value === undefined) return "—";
  if (key === "size_bytes") return `${(value / 2 ** 20).toFixed(0)} MiB`;
  if (key === "memory_mib") return `${(value / 1024).toFixed(0)} GiB`;
  return String(value);
}

// -- matrices ------------------------------------------------------------------------------

function matrixControls(body) {
  const kind = h("select#matrix-kind", {}, options([["builds", "framework builds × GPU products"],
    ["drivers", "driver branches × CUDA"]], "builds"));
  const framework = h("select#matrix-framework", {}, options(["pytorch"], "pytorch"));
  const latest = h("input#matrix-latest", { type: "number", min: 1, max: 100, value: 6 });
  const reload = () => loadMatrix(body, { kind: kind.value, framework: framework.value, latest: latest.value });
  kind.addEventListener("change", () => {
    framework.disabled = latest.disabled = kind.value === "drivers";
    reload();
  });
  framework.addEventListener("change", reload);
  latest.addEventListener("change", reload);
  body.frameworkSelect = framework;
  return h("div.filters", {}, h("label", {}, "View", kind), h("label", {}, "Framework", framework),
    h("label", {}, "Newest releases", latest));
}

async function loadMatrix(body, query) {
  mount(body, h("p.muted", {}, "Loading the matrix…"));
  let m;
  try {
    m = await get("/ui/api/matrix", query);
  } catch (e) {
    mount(body, notice(explain(e), "error"));
    return;
  }
  const select = body.frameworkSelect;
  if (select && select.options.length !== m.frameworks.length) {
    mount(select, options(m.frameworks, query.framework));
  }
  const detail = h("div.cell-detail#cell-detail", {}, h("p.muted", {}, "Click a cell for its reason and sources."));
  const table = h("table.matrix#matrix-table", { dataset: { kind: m.kind } },
    h("thead", {}, h("tr", {}, h("th.corner", {}, m.row_header), m.columns.map((c) => h("th.col", {}, h("span", {}, c))))),
    h("tbody", {}, m.rows.map((row, ri) => h("tr", {}, h("th.row", {}, row.name),
      row.cells.map((cell, ci) => h(`td.cell.${cell.ok ? "ok" : "no"}.mark-${markClass(cell.mark)}`, {
        title: `${row.name} × ${m.columns[ci]}: ${cell.reason}`,
        tabindex: 0,
        dataset: { row: String(ri), col: String(ci) },
        onclick: () => showCell(detail, m, row, ci),
        onkeydown: (ev) => { if (ev.key === "Enter") showCell(detail, m, row, ci); },
      }, cell.mark))))));
  mount(body, h("p.muted", {}, `${m.title} — ${m.legend}`), h("div.matrix-wrap", {}, table), detail);
}

function markClass(mark) {
  return mark === "-" ? "none" : mark.toLowerCase();
}

function showCell(detail, m, row, ci) {
  const cell = row.cells[ci];
  mount(detail,
    h("h3", {}, `${row.name} × ${m.columns[ci]}: `, h(`span.verdict.${cell.ok ? "ok" : "no"}`, {}, cell.ok ? "works" : "does not work")),
    h("ul.checks", {}, cell.checks.map((c) => h(`li.${c.ok ? "ok" : "no"}`, {},
      h("span.rule", {}, c.ok ? "✓ " : "✗ ", c.rule), " ", stripCitation(c.message),
      c.suggestion ? h("div.suggestion", {}, `suggestion: ${c.suggestion}`) : null,
      c.sources.length ? h("ul.sources", {}, c.sources.map((src) => h("li", {},
        src.url ? h("a", { href: src.url, target: "_blank", rel: "noopener noreferrer" }, src.doc || src.id) : src.id,
        h("span.muted", {}, ` [${src.id}]`)))) : null))));
}

// The catalog appends "(catalog: id; cited docs...)" to messages; the sources are listed apart here.
function stripCitation(message) {
  const i = message.lastIndexOf(" (catalog: ");
  return i > 0 ? message.slice(0, i) : message;
}

// -- diff ----------------------------------------------------------------------------------

function diffControls(revisions, body) {
  if (revisions.length < 2) {
    return h("p.muted", {}, `${revisions.length} revision stored. Upload another (PUT /v1/catalog) to compare.`);
  }
  const label = (r) => [r.revision, `${shortRev(r.revision)} · ${fmtTime(r.created_at)} · ${r.source}${r.active ? " (active)" : ""}`];
  const older = h("select#diff-old", {}, options(revisions.map(label), revisions[1].revision));
  const newer = h("select#diff-new", {}, options(revisions.map(label), revisions[0].revision));
  const run = h("button#diff-run", { type: "button", onclick: () => loadDiff(body, older.value, newer.value) }, "Compare");
  return h("div.filters", {}, h("label", {}, "Old", older), h("label", {}, "New", newer), run);
}

async function loadDiff(body, oldRev, newRev) {
  mount(body, h("p.muted", {}, "Comparing…"));
  try {
    const d = await get("/ui/api/catalog/diff", { old: oldRev, new: newRev });
    if (!d.changes.length) {
      mount(body, notice("No record differs between these revisions."));
      return;
    }
    const counts = groupBy(d.changes, (c) => c.kind);
    mount(body,
      h("p", {}, Object.entries(counts).map(([k, v]) => h(`span.badge.badge-${k}`, {}, `${v.length} ${k}`))),
      h("div.table-wrap", {}, h("table.grid.compact#diff-table", {},
        h("thead", {}, h("tr", {}, ["record", "section", "change", "fields"].map((t) => h("th", {}, t)))),
        h("tbody", {}, d.changes.map((c) => h(`tr.change-${c.kind}`, {},
          h("td.mono", {}, c.id), h("td", {}, c.section), h("td", {}, h(`span.badge.badge-${c.kind}`, {}, c.kind)),
          h("td", {}, Object.entries(c.fields).map(([f, v]) => h("div.field-change", {},
            h("span.mono", {}, f), ": ", h("del", {}, fmtValue(v.old)), " → ", h("ins", {}, fmtValue(v.new)))))))))));
  } catch (e) {
    mount(body, notice(explain(e), "error"));
  }
}

function fmtValue(v) {
  if (v === null || v === undefined) return "∅";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}
