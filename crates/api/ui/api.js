// The dashboard's client of the Engine API, same origin under /api. Every
// request carries X-Wharf-UI (a header no cross-site page can send without
// a preflight the server never answers) and, when the dashboard has one,
// its token as a Bearer header (kept in sessionStorage, never a cookie:
// cookies would reach every port of the host); every failure is shown.

const TOKEN_KEY = "wharf-ui-token";
// `/?token=…` once: kept for the tab's session, dropped from the address bar.
{
  const u = new URL(location.href);
  const t = u.searchParams.get("token");
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    u.searchParams.delete("token");
    history.replaceState(null, "", u.pathname + u.search + u.hash);
  }
}

/** The headers of a dashboard request. */
export function headers(extra = {}) {
  const h = { "X-Wharf-UI": "1", ...extra };
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** A fetch of the dashboard's server; a 401 asks for the token once and tries again. */
export async function uiFetch(url, init = {}) {
  const go = () => fetch(url, { ...init, headers: headers(init.headers || {}) });
  let resp = await go();
  if (resp.status === 401) {
    const t = prompt("This dashboard needs its token (--ui-token):");
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t.trim());
      resp = await go();
    }
  }
  return resp;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A failed response as an ApiError (the server's `{"message"}` when it sent one). */
export async function failure(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (body && body.message) message = body.message;
  } catch (_) { /* not JSON */ }
  return new ApiError(resp.status, message);
}

/** A request; JSON (or null for an empty body) back, an ApiError thrown. */
export async function api(method, path, body, signal) {
  const init = { method, headers: {}, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await uiFetch(`/api${path}`, init);
  if (!resp.ok) throw await failure(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

/** A streamed response of the dashboard's server (`url`, fetch's `init`), chunk by chunk, until it ends or aborts. */
export async function streamFrom(url, init, onChunk) {
  const resp = await uiFetch(url, init);
  if (!resp.ok) throw await failure(resp);
  const reader = resp.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}

/** An API stream's bytes. */
export function streamBytes(method, path, onChunk, signal) {
  return streamFrom(`/api${path}`, { method, signal }, onChunk);
}

/** A JSON-lines stream of the server: one object per line. */
export async function jsonLinesFrom(url, init, onValue) {
  const decoder = new TextDecoder();
  let rest = "";
  await streamFrom(url, init, (chunk) => {
    rest += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) onValue(JSON.parse(line));
    }
  });
  if (rest.trim()) onValue(JSON.parse(rest));
}

/** An API JSON-lines stream (events, stats, pull progress). */
export function streamJson(method, path, onValue, signal) {
  return jsonLinesFrom(`/api${path}`, { method, signal }, onValue);
}

/** Docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, size) → (stream, bytes). */
export function demuxer(onFrame) {
  let buf = new Uint8Array(0);
  return (chunk) => {
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    while (buf.length >= 8) {
      const size = (buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7];
      if (buf.length < 8 + size) break;
      onFrame(buf[0], buf.slice(8, 8 + size));
      buf = buf.slice(8 + size);
    }
  };
}

/** Shows an error in the page (never a silent failure). */
export function showError(e) {
  if (e && e.name === "AbortError") return;
  const box = document.getElementById("errors");
  const div = document.createElement("div");
  div.className = "error";
  const text = document.createElement("span");
  text.textContent = e instanceof Error ? e.message : String(e);
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "✕";
  close.setAttribute("aria-label", "Dismiss");
  close.onclick = () => div.remove();
  div.append(text, close);
  box.append(div);
  console.error(e);
}

/** Runs an action, showing its error; true if it succeeded. */
export async function attempt(f) {
  try {
    await f();
    return true;
  } catch (e) {
    showError(e);
    return false;
  }
}

/** Asks before a destructive action. */
export function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "ok");
    dialog.returnValue = "cancel";
    dialog.showModal();
    document.getElementById("confirm-ok").focus();
  });
}

export function bytes(n) {
  if (!Number.isFinite(n) || n < 0) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function ago(unixSeconds) {
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** An element: `h("td", {className: "x"}, child, "text", …)`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function button(label, onclick, props = {}) {
  return h("button", { type: "button", onclick, ...props }, label);
}

/** CPU percent of a stats sample, as docker stats computes it. */
export function cpuPercent(s) {
  const cpu = s.cpu_stats, pre = s.precpu_stats;
  if (!cpu || !pre || !cpu.cpu_usage || !pre.cpu_usage) return 0;
  const dc = cpu.cpu_usage.total_usage - pre.cpu_usage.total_usage;
  const ds = (cpu.system_cpu_usage || 0) - (pre.system_cpu_usage || 0);
  const n = cpu.online_cpus || (cpu.cpu_usage.percpu_usage || []).length || 1;
  return ds > 0 && dc > 0 ? (dc / ds) * n * 100 : 0;
}
