// Small DOM helpers: build elements without innerHTML (no markup injection), format values.

/** h("tag.class#id", {attrs}, ...children) -> Element ("tag#id.class" alike). Strings become text nodes. */
export function h(spec, attrs = {}, ...children) {
  const tag = spec.match(/^[^.#]*/)[0];
  const classes = [...spec.matchAll(/\.([^.#]+)/g)].map((m) => m[1]);
  const id = (spec.match(/#([^.#]+)/) || [])[1];
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (id) el.id = id;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** s("rect", {attrs}, ...children) -> SVG element. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "hidden") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Seconds since the epoch -> "2026-11-28 20:07:03" (local time). */
export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A duration in seconds -> "4.2 s", "3 min 5 s", "2 h 10 min". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function shortRev(rev) {
  return rev ? String(rev).slice(0, 12) : "—";
}

/** A coloured state badge; `kind` picks the palette (task/run states, live/stale). */
export function badge(text, kind = String(text).toLowerCase()) {
  return h(`span.badge.badge-${kind}`, {}, text);
}

/** A message box for errors and empty states. */
export function notice(text, kind = "info") {
  return h(`div.notice.notice-${kind}`, { role: kind === "error" ? "alert" : "status" }, text);
}

/** Options for a <select>: values or [value, label] pairs; `selected` marks one. */
export function options(values, selected) {
  return values.map((v) => {
    const [value, label] = Array.isArray(v) ? v : [v, v];
    return h("option", { value, selected: value === selected }, label);
  });
}
