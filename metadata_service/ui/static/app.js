// The console shell: hash routing between pages and the token bar.

import { forgetWho, getToken, setToken, whoami, explain } from "./api.js";
import { h, mount, notice } from "./dom.js";
import { renderFleet } from "./fleet.js";
import { renderCatalog } from "./catalog.js";
import { renderSelect } from "./select.js";
import { renderFlows } from "./flows.js";

const PAGES = { fleet: renderFleet, catalog: renderCatalog, select: renderSelect, flows: renderFlows };

let current = { seq: 0, cleanup: null };

function parseHash() {
  const parts = (window.location.hash || "#/fleet").replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = PAGES[parts[0]] ? parts[0] : "fleet";
  return { page, args: parts.slice(1) };
}

async function route() {
  const { page, args } = parseHash();
  if (typeof current.cleanup === "function") current.cleanup();
  const seq = current.seq + 1;
  current = { seq, cleanup: null };
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === page);
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = document.getElementById("page");
  root.dataset.page = page;
  root.dataset.ready = "false";
  // Each page renders into its own container, shown only if no later navigation overtook it.
  const view = h("div.view", { dataset: { page } });
  const show = () => {
    if (seq !== current.seq) return false;
    root.replaceChildren(view);
    root.dataset.ready = "true";
    return true;
  };
  if (!getToken()) {
    mount(view, h("h1", {}, "Sign in"),
      notice("Paste a bearer token in the field above (a reader token is enough to view; " +
        "admins can also register models). Make one with: rtfit token new --role reader --file tokens.yaml"));
    show();
    return;
  }
  let cleanup = null;
  try {
    const who = await whoami();
    cleanup = await PAGES[page](view, { args, who });
  } catch (e) {
    view.append(notice(explain(e), "error"));
  }
  if (show()) current.cleanup = cleanup;
  else if (typeof cleanup === "function") cleanup();
}

async function showWho() {
  const el = document.getElementById("who");
  try {
    const who = await whoami();
    el.textContent = who ? `${who.name} · ${who.role}` : "not signed in";
    el.dataset.role = who ? who.role : "";
  } catch (e) {
    el.textContent = e.status === 401 ? "token refused" : "not signed in";
    el.dataset.role = "";
  }
}

function setupAuth() {
  const form = document.getElementById("auth");
  const input = document.getElementById("token");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    input.value = "";
    forgetWho();
    await showWho();
    await route();
  });
  document.getElementById("token-clear").addEventListener("click", async () => {
    setToken("");
    forgetWho();
    await showWho();
    await route();
  });
}

setupAuth();
window.addEventListener("hashchange", route);
showWho().then(route);
