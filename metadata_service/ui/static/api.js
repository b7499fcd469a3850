// The API client: every call carries the bearer token kept in this tab's sessionStorage.
// Errors come back as the service's JSON problem objects and are thrown as ApiError.

const TOKEN_KEY = "rtfit.token";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Call the API; returns parsed JSON (or text for text/plain), throws ApiError on 4xx/5xx. */
export async function api(method, path, { body, query } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(k, item);
    }
  }
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { title: "Network error", detail: `cannot reach the service: ${e.message}` });
  }
  const type = resp.headers.get("content-type") || "";
  const payload = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    throw new ApiError(resp.status, typeof payload === "object" ? payload : { detail: String(payload).slice(0, 300) });
  }
  return payload;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body) => api("POST", path, { body });
export const del = (path) => api("DELETE", path);

/** Who the token belongs to: {name, role, can_read, can_write}, or null without a (valid) token. */
let whoCache = null;
export async function whoami({ refresh = false } = {}) {
  if (!getToken()) return null;
  if (whoCache && !refresh) return whoCache;
  whoCache = await get("/ui/api/whoami");
  return whoCache;
}

export function forgetWho() {
  whoCache = null;
}

/** A sentence for an ApiError that tells the user what to do. */
export function explain(err) {
  if (!(err instanceof ApiError)) return String(err?.message || err);
  if (err.status === 401) return `Not signed in: ${err.message}. Paste a token (rtfit token new --role reader) above.`;
  if (err.status === 403) return `Not allowed: ${err.message}.`;
  const field = err.problem.field ? ` (field: ${err.problem.field})` : "";
  return `${err.problem.title || "Error"} ${err.status || ""}: ${err.message}${field}`.trim();
}
