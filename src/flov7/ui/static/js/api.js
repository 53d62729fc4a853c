// The API client of the UI: every call goes to this server's /api/v1.
// The API key (when the server requires one) lives in sessionStorage only: it is sent
// as an Authorization header, never put in a URL, and forgotten when the tab closes.

const KEY_NAME = "flov7.apiKey";
export const API = "/api/v1";

/** An API answer other than 2xx, with the API's {"error": {...}} body. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.details = error.details;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function signOut() {
  sessionStorage.removeItem(KEY_NAME);
  location.reload();
}

/** Headers of an API request: the key, when there is one. */
export function authHeaders(extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

let pendingSignIn = null;

/** Ask for a key (one dialog however many calls were refused); resolves once a key
 * the server accepts is stored. */
function signIn(rejected) {
  if (pendingSignIn) return pendingSignIn;
  const dialog = document.getElementById("signin");
  const form = document.getElementById("signin-form");
  const input = document.getElementById("signin-key");
  const error = document.getElementById("signin-error");
  error.textContent = rejected ? "That key was refused. Try another." : "";
  pendingSignIn = new Promise((resolve) => {
    const submit = async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      // Check the key before keeping it: a wrong key gets a message, not a loop.
      const probe = await fetch(`${API}/health`, {
        headers: { Accept: "application/json", Authorization: `Bearer ${key}` },
      });
      if (probe.status === 401) {
        error.textContent = "That key was refused. Try another.";
        input.select();
        return;
      }
      sessionStorage.setItem(KEY_NAME, key);
      input.value = "";
      form.removeEventListener("submit", submit);
      dialog.close();
      pendingSignIn = null;
      showSession();
      resolve();
    };
    form.addEventListener("submit", submit);
    // The dialog cannot be dismissed without a key: nothing works without one.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.showModal();
    input.focus();
  });
  return pendingSignIn;
}

/** Show "signed in" and a sign-out button while a key is kept. */
export function showSession() {
  const session = document.getElementById("session");
  session.replaceChildren();
  if (!apiKey()) return;
  const label = document.createElement("span");
  label.textContent = "Signed in with an API key";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Sign out";
  button.addEventListener("click", signOut);
  session.append(label, " ", button);
}

/** Call the API; JSON in, JSON out. A 401 asks for a key and tries again. */
export async function api(path, { method = "GET", body, query } = {}) {
  let url = `${API}${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, value);
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: authHeaders() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (response.status === 401) {
    const hadKey = Boolean(apiKey());
    sessionStorage.removeItem(KEY_NAME);
    await signIn(hadKey);
    return api(path, { method, body, query });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
