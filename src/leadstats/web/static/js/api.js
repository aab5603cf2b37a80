// Calls to the leadstats HTTP API. The read token (if the server needs one) is kept in localStorage
// and sent as a bearer token; a 401/403 surfaces as an ApiError with `auth` set.

const TOKEN_KEY = "leadstats.token";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
    this.auth = status === 401 || status === 403;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** The error text of an API response: the API's own message when it sent one. */
async function errorMessage(resp) {
  const fallback = `${resp.status} ${resp.statusText || "error"}`.trim();
  let body;
  try {
    body = await resp.json();
  } catch {
    return fallback;
  }
  const err = body && typeof body.error === "object" && body.error ? body.error : body;
  if (err && typeof err.message === "string") return err.message;
  if (err && typeof err.detail === "string") return err.detail;
  if (err && Array.isArray(err.detail)) return err.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  if (body && typeof body.error === "string") return body.error;
  return fallback;
}

export async function apiFetch(path, { signal, token = getToken() } = {}) {
  const headers = { Accept: path.includes("format=csv") ? "text/csv" : "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, { headers, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(`Cannot reach the leadstats server (${err.message}).`, 0);
  }
  if (!resp.ok) throw new ApiError(await errorMessage(resp), resp.status);
  return resp;
}

export async function getJson(path, options) {
  return (await apiFetch(path, options)).json();
}
