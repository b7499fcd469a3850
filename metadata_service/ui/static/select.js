// "Where can my model run?": a Contract 1 request built from a form (or a registered model),
// sent to POST /v1/select, and the Contract 3 answer shown as it came: the choice, the
// alternatives and the explanation, or the conflicts and suggestions when nothing fits.

import { del, explain, get, post } from "./api.js";
import { badge, h, mount, notice, options } from "./dom.js";

const FRAMEWORKS = ["pytorch", "tensorflow", "onnxruntime", "tensorrt", "jax", "vllm", "sglang", "tensorrt-llm", "none"];
const PRECISIONS = ["", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4"];
const FORMATS = ["", "onnx", "tensorrt-engine", "torchscript", "savedmodel", "safetensors"];

function field(label, input, hint) {
  return h("label.field", {}, h("span.label", {}, label), input, hint ? h("span.hint", {}, hint) : null);
}

/** The Contract 1 request the form describes (empty fields left out). */
export function formRequest(form) {
  const v = (name) => form.elements[name].value.trim();
  const req = {};
  if (v("name")) req.name = v("name");
  req.framework = v("framework");
  if (v("framework_version")) req.framework_version = v("framework_version");
  if (v("python")) req.python = v("python");
  if (v("precision")) req.precision = v("precision");
  if (v("min_gpu_memory_gib")) req.min_gpu_memory_gib = Number(v("min_gpu_memory_gib"));
  if (v("gpu_count") !== "") req.gpu_count = Number(v("gpu_count"));
  const arch = [...form.querySelectorAll("input[name=arch]:checked")].map((el) => el.value);
  if (arch.length) req.arch = arch;
  if (v("format_kind")) {
    req.format = { kind: v("format_kind") };
    if (v("opset")) req.format.opset = Number(v("opset"));
    if (v("tensorrt_version")) req.format.tensorrt_version = v("tensorrt_version");
    if (v("engine_cc")) req.format.compute_capability = v("engine_cc");
  }
  const requires = {};
  for (const line of v("requires").split("\n")) {
    const m = line.match(/^\s*([A-Za-z0-9_-]+)\s*[:=]?\s*(\S.*)$/);
    if (m) requires[m[1]] = m[2].trim();
  }
  if (Object.keys(requires).length) req.requires = requires;
  if (v("artifact")) {
    try {
      const facts = JSON.parse(v("artifact"));
      req.artifact = facts.artifact ?? facts;   // the whole `rtfit model inspect --json` output, or its facts
    } catch {
      req.artifact = v("artifact");             // the API answers with the problem
    }
  }
  const serving = {};
  for (const k of ["max_model_len", "max_num_seqs", "tensor_parallel"]) if (v(k)) serving[k] = Number(v(k));
  if (Object.keys(serving).length) req.serving = serving;
  return req;
}

/** The POST /v1/select body for the current form state. */
function selectBody(form) {
  const body = {};
  if (form.elements.source.value === "registered" && form.elements.model_name.value) {
    body.model_name = form.elements.model_name.value;
  } else {
    body.model = formRequest(form);
  }
  body.top = Number(form.elements.top.value || 1);
  if (form.elements.plan.checked) body.plan = true;
  if (form.elements.install.checked) body.install = true;
  const cluster = form.elements.cluster.value.trim();
  if (cluster) body.where = { cluster };
  const whyNot = form.elements.why_not.value.trim();
  if (whyNot && !body.plan) body.why_not = whyNot;
  return body;
}

export async function renderSelect(root, { who }) {
  const models = await get("/v1/models");
  const result = h("section.panel#select-result", { "aria-live": "polite" },
    h("p.muted", {}, "Describe a model and press “Find a place”."));
  const preview = h("pre.json#request-preview");
  const canWrite = Boolean(who && who.can_write);

  const form = h("form#select-form.panel", { autocomplete: "off" },
    h("h2", {}, "The model"),
    h("div.radio-row", {},
      h("label", {}, h("input", { type: "radio", name: "source", value: "form", checked: true }), " describe it"),
      h("label", {}, h("input", { type: "radio", name: "source", value: "registered", disabled: !models.length }),
        ` a registered model (${models.length})`)),
    h("div.form-grid", {},
      field("Registered model", h("select", { name: "model_name" }, h("option", { value: "" }, "—"),
        options(models.map((m) => m.name)))),
      field("Name", h("input", { name: "name", placeholder: "detector-v3" }), "optional"),
      field("Framework", h("select", { name: "framework" }, options(FRAMEWORKS, "pytorch"))),
      field("Version spec", h("input", { name: "framework_version", placeholder: ">=2.3,<2.6" }), "PEP 440"),
      field("Python", h("input", { name: "python", placeholder: ">=3.10" })),
      field("Precision", h("select", { name: "precision" }, options(PRECISIONS.map((p) => [p, p || "any"]), ""))),
      field("GPU memory (GiB per GPU)", h("input", { name: "min_gpu_memory_gib", type: "number", min: 0, step: "any" })),
      field("GPU count", h("input", { name: "gpu_count", type: "number", min: 0, value: 1 }), "0 = CPU only"),
      field("CPU arch", h("span.checks-inline", {},
        ["x86_64", "aarch64"].map((a) => h("label", {}, h("input", { type: "checkbox", name: "arch", value: a }), ` ${a}`)))),
      field("Artifact format", h("select", { name: "format_kind" }, options(FORMATS.map((f) => [f, f || "—"]), ""))),
      field("ONNX opset", h("input", { name: "opset", type: "number", min: 1 })),
      field("Engine TensorRT version", h("input", { name: "tensorrt_version", placeholder: "10.3.0" })),
      field("Engine built on CC", h("input", { name: "engine_cc", placeholder: "8.9" })),
      field("Extra requirements", h("textarea", { name: "requires", rows: 2, placeholder: "cudnn: >=9" }), "kind: spec, one a line"),
      field("Model artifact facts", h("textarea", { name: "artifact", rows: 2, placeholder: "{…}" }),
        "paste `rtfit model inspect --json`: GPU memory is then estimated from the model"),
      field("Serving: max_model_len", h("input", { name: "max_model_len", type: "number", min: 1 }), "LLM serving"),
      field("Serving: max_num_seqs", h("input", { name: "max_num_seqs", type: "number", min: 1 })),
      field("Serving: tensor_parallel", h("input", { name: "tensor_parallel", type: "number", min: 1 }))),
    h("h2", {}, "Where"),
    h("div.form-grid", {},
      field("Cluster", h("input", { name: "cluster", placeholder: "any" })),
      field("Answers", h("input", { name: "top", type: "number", min: 1, max: 50, value: 3 }), "choice + alternatives"),
      field("Why not node…", h("input", { name: "why_not", placeholder: "a node name" }),
        "every rule judged for this node, with its sources"),
      field("Plan hardware", h("label", {}, h("input", { type: "checkbox", name: "plan" }), " ignore the nodes; which GPU products could run it?")),
      field("Install recipe", h("label", {}, h("input", { type: "checkbox", name: "install" }), " show how to install and schedule the chosen runtime"))),
    h("div.actions", {},
      h("button#select-submit", { type: "submit" }, "Find a place"),
      canWrite ? h("span.admin", {},
        h("input#register-name", { placeholder: "model name", "aria-label": "model name" }),
        h("button#register", { type: "button", class: "secondary", onclick: () => register(form, root) }, "Register model"),
        h("button#unregister", { type: "button", class: "danger", onclick: () => unregister(form, root) }, "Delete registered"))
        : h("span.muted#readonly-note", {}, "Registering models needs an admin token.")),
    h("details", {}, h("summary", {}, "Request body sent to POST /v1/select"), preview));

  const update = () => {
    const registered = form.elements.source.value === "registered";
    form.classList.toggle("use-registered", registered);
    preview.textContent = JSON.stringify(selectBody(form), null, 2);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", (ev) => {
    if (ev.target.name === "model_name" && ev.target.value) {
      form.elements.source.value = "registered";
      const found = models.find((m) => m.name === ev.target.value);
      if (found) fillForm(form, found.request);
    }
    update();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = selectBody(form);
    mount(result, h("p.muted", {}, "Solving…"));
    result.dataset.state = "loading";
    try {
      const answer = await post("/v1/select", body);
      mount(result, renderAnswer(answer));
      result.dataset.state = answer.feasible ? "feasible" : "infeasible";
    } catch (e) {
      mount(result, notice(explain(e), "error"));
      result.dataset.state = "error";
    }
  });
  update();
  mount(root, h("h1", {}, "Where can my model run?"),
    h("p.muted", {}, "The same question as POST /v1/select, on the active catalog and the live nodes."),
    h("div.select-layout", {}, form, result));
}

function fillForm(form, req) {
  const set = (name, value) => { form.elements[name].value = value ?? ""; };
  set("name", req.name);
  set("framework", req.framework || "none");
  set("framework_version", req.framework_version);
  set("python", req.python);
  set("precision", req.precision);
  set("min_gpu_memory_gib", req.min_gpu_memory_gib);
  set("gpu_count", req.gpu_count ?? 1);
  for (const el of form.querySelectorAll("input[name=arch]")) el.checked = (req.arch || []).includes(el.value);
  set("format_kind", req.format?.kind);
  set("opset", req.format?.opset);
  set("tensorrt_version", req.format?.tensorrt_version);
  set("engine_cc", req.format?.compute_capability);
  set("requires", Object.entries(req.requires || {}).map(([k, s]) => `${k}: ${s}`).join("\n"));
  set("artifact", req.artifact ? JSON.stringify(req.artifact) : "");
  for (const k of ["max_model_len", "max_num_seqs", "tensor_parallel"]) set(k, req.serving?.[k]);
}

async function register(form, root) {
  const name = root.querySelector("#register-name").value.trim() || form.elements.name.value.trim();
  const out = root.querySelector("#select-result");
  try {
    await post("/v1/models", { name, request: formRequest(form) });
    mount(out, notice(`Registered model '${name}'.`));
  } catch (e) {
    mount(out, notice(explain(e), "error"));
  }
}

async function unregister(form, root) {
  const name = form.elements.model_name.value;
  const out = root.querySelector("#select-result");
  if (!name) {
    mount(out, notice("Pick a registered model first.", "error"));
    return;
  }
  try {
    await del(`/v1/models/${encodeURIComponent(name)}`);
    mount(out, notice(`Deleted model '${name}'.`));
  } catch (e) {
    mount(out, notice(explain(e), "error"));
  }
}

function placementRow(p, role, index) {
  const gpu = p.gpu || null;
  return h("tr", { dataset: { role, index: String(index) } },
    h("td", {}, role === "choice" ? badge("choice", "succeeded") : `#${index + 1}`),
    h("td.node", {}, p.node ?? "— (plan)"),
    h("td.cluster", {}, p.cluster ?? "—"),
    h("td.gpu", {}, gpu ? `${gpu.count}× ${gpu.product}` : "CPU only"),
    h("td.cc", {}, gpu?.compute_capability ?? "—"),
    h("td.runtime", {}, h("div.chips", {}, Object.entries(p.runtime || {}).map(([k, v]) =>
      h("span.chip", { dataset: { component: k } }, `${k} ${v}`)))));
}

/** The Contract 3 answer as the page shows it (the raw JSON is kept alongside). */
export function renderAnswer(a) {
  if (a.verdicts) return renderWhyNot(a);
  const head = h("div.verdict-row", {},
    h(`span.verdict.${a.feasible ? "ok" : "no"}#result-verdict`, { dataset: { feasible: String(a.feasible) } },
      a.feasible ? "It fits" : "Nothing fits"),
    h("span.muted", {}, ` catalog ${String(a.catalog_revision || "").slice(0, 12)}`));
  const parts = [head];
  if (a.feasible) {
    const rows = [placementRow(a.choice, "choice", 0), ...(a.alternatives || []).map((p, i) => placementRow(p, "alternative", i))];
    parts.push(h("div.table-wrap", {}, h("table.grid#placements", {},
      h("thead", {}, h("tr", {}, ["", "node", "cluster", "GPU", "CC", "runtime"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows))));
    if ((a.explanation || []).length) {
      parts.push(h("h3", {}, "Why"), h("ul#explanation", {}, a.explanation.map((e) => h("li", {}, e))));
    }
  } else {
    parts.push(h("h3", {}, "Conflicts"), h("ul.conflicts#conflicts", {}, (a.conflicts || []).map((c) =>
      h("li", { dataset: { rule: c.rule } }, h("span.rule", {}, c.rule), " ", h("span.message", {}, c.message)))));
    if ((a.suggestions || []).length) {
      parts.push(h("h3", {}, "Suggestions"), h("ul#suggestions", {}, a.suggestions.map((s) => h("li", {}, s))));
    }
  }
  if (a.verdict) parts.push(...renderVerdict(a));
  if (a.install) parts.push(...renderInstall(a.install));
  parts.push(h("details", {}, h("summary", {}, "The API's answer (JSON)"),
    h("pre.json#result-json", {}, JSON.stringify(a, null, 2))));
  return parts;
}

const VERDICT_TEXT = {
  "runnable": "Runnable as asked",
  "runnable-with-change": "Runnable only with a change",
  "incompatible": "Incompatible",
};

/** The three verdicts of a request that named a model artifact, the memory it needs and each checked change. */
function renderVerdict(a) {
  const memory = a.memory || {};
  const out = [h("h3", {}, "GPU memory and verdict"),
    h("p", {}, h(`span.verdict.${a.verdict === "runnable" ? "ok" : "no"}#memory-verdict`, { dataset: { verdict: a.verdict } },
      VERDICT_TEXT[a.verdict] || a.verdict),
    ` needs ${memory.per_gpu_gib ?? memory.given_min_gpu_memory_gib} GiB per GPU`),
    h("ul#memory-how", {}, (memory.how || []).map((line) => h("li", {}, line)))];
  if ((a.changes || []).length) {
    out.push(h("ul#changes", {}, a.changes.map((c) => h("li", { dataset: { change: c.change } },
      h("strong", {}, c.description), ` → ${c.choice.node ?? c.choice.gpu?.product ?? ""}, ${c.memory.per_gpu_gib} GiB per GPU`))));
  }
  return out;
}

/** The install recipe of the choice: each form as text to copy. */
function renderInstall(inst) {
  if (inst.unavailable) return [h("h3", {}, "Install"), notice(`No install recipe: ${inst.unavailable}`, "error")];
  const block = (id, title, text) => h("details", { open: id === "install-requirements" },
    h("summary", {}, title), h(`pre.json#${id}`, {}, text));
  const parts = [h("h3", {}, "Install"),
    block("install-requirements", "requirements.txt", inst.requirements_txt),
    block("install-uv", "uv", inst.uv),
    block("install-stage", "rtfit store stage", inst.stage.join("\n")),
    block("install-pixi", "pixi.toml (conda-forge)", inst.pixi_toml),
    block("install-dockerfile", "Dockerfile", inst.container.dockerfile)];
  if (inst.container.ngc) {
    const n = inst.container.ngc;
    parts.push(h("p#install-ngc", {}, `NGC container: ${n.image}`,
      n.differs.length ? h("span.muted", {}, ` (differs: ${n.differs.join("; ")})`) : null));
  }
  if (inst.kubernetes) parts.push(block("install-kubernetes", "Kubernetes scheduling", JSON.stringify(inst.kubernetes, null, 2)));
  return parts;
}

/** A why-not answer: every rule judged for one node, each verdict with its records and sources. */
function renderWhyNot(a) {
  const head = h("div.verdict-row", {},
    h(`span.verdict.${a.usable ? "ok" : "no"}#result-verdict`, { dataset: { feasible: String(a.usable) } },
      a.usable ? `${a.node} is usable` : `Not on ${a.node}`),
    h("span.muted", {}, ` rules judged for ${Object.entries(a.runtime || {}).map(([k, v]) => `${k} ${v}`).join(", ")}`));
  const rows = a.verdicts.map((v) => h("tr", { dataset: { rule: v.rule, ok: String(v.ok) } },
    h("td", {}, badge(v.ok ? "ok" : "no", v.ok ? "succeeded" : "failed")),
    h("td.rule", {}, v.rule),
    h("td.message", {}, v.message),
    h("td.sources", {}, (v.records || []).join(", "), ...(v.sources || []).map((s) =>
      h("div", {}, h("a", { href: s.url, target: "_blank", rel: "noopener" }, s.doc))))));
  const parts = [head, h("div.table-wrap", {}, h("table.grid#why-not", {},
    h("thead", {}, h("tr", {}, ["", "rule", "verdict", "records / sources"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows)))];
  const sugg = (a.answer && a.answer.suggestions) || [];
  if (!a.usable && sugg.length) {
    parts.push(h("h3", {}, "Suggestions"), h("ul#suggestions", {}, sugg.map((s) => h("li", {}, s))));
  }
  parts.push(h("details", {}, h("summary", {}, "The API's answer (JSON)"),
    h("pre.json#result-json", {}, JSON.stringify(a, null, 2))));
  return parts;
}
