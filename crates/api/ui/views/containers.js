// Containers: state, health, image, ports as links, CPU and memory
// sparklines (the stats stream of each running one), the lifecycle actions
// (destructive ones confirmed), and a form that runs a new container.

import { api, attempt, button, bytes, confirmAction, cpuPercent, h, showError, streamJson } from "../api.js";
import { Series } from "../charts.js";

export function name(c) {
  return (c.Names && c.Names[0] ? c.Names[0] : c.Id.slice(0, 12)).replace(/^\//, "");
}

function health(status) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status || "");
  if (!m) return "";
  const word = m[1] === "health: starting" ? "starting" : m[1];
  return h("span", { className: `badge health-${word}` }, word);
}

function ports(c) {
  const seen = new Set();
  return (c.Ports || [])
    .filter((p) => p.PublicPort && !seen.has(`${p.PublicPort}/${p.Type}`) && seen.add(`${p.PublicPort}/${p.Type}`))
    .map((p) => {
      // Only an address goes into the link (brackets for IPv6).
      const ip = /^[0-9a-fA-F:.]+$/.test(p.IP || "") && p.IP !== "0.0.0.0" && p.IP !== "::" ? p.IP : "";
      const host = ip ? (ip.includes(":") ? `[${ip}]` : ip) : location.hostname;
      const label = `${p.PublicPort}→${p.PrivatePort}/${p.Type}`;
      return p.Type === "tcp"
        ? h("a", { href: `http://${host}:${p.PublicPort}/`, target: "_blank", rel: "noopener" }, label, " ")
        : h("span", {}, label, " ");
    });
}

/** The lifecycle buttons of a container; `done` runs after a successful action. */
export function actions(c, done) {
  const id = c.Id;
  const state = c.State;
  const act = (label, path, opts = {}) =>
    button(label, async () => {
      if (opts.confirm && !(await confirmAction(opts.confirm))) return;
      if (await attempt(() => api(opts.method || "POST", path))) done();
    }, { disabled: opts.disabled, className: opts.confirm ? "danger" : "", dataset: { action: label.toLowerCase() } });
  const n = name(c);
  return [
    act("Start", `/containers/${id}/start`, { disabled: state === "running" || state === "paused" }),
    act("Stop", `/containers/${id}/stop`, { disabled: state !== "running" }),
    act("Restart", `/containers/${id}/restart`),
    state === "paused"
      ? act("Unpause", `/containers/${id}/unpause`)
      : act("Pause", `/containers/${id}/pause`, { disabled: state !== "running" }),
    act("Kill", `/containers/${id}/kill`, { disabled: state !== "running", confirm: `Kill ${n}?` }),
    act("Remove", `/containers/${id}?force=1&v=1`, { method: "DELETE", confirm: `Remove ${n} and its anonymous volumes?` }),
  ];
}

function runForm(refresh) {
  const image = h("input", { name: "image", placeholder: "image", required: true, "aria-label": "Image" });
  const cname = h("input", { name: "name", placeholder: "name (optional)", "aria-label": "Name" });
  const cmd = h("input", { name: "cmd", placeholder: "command (optional)", "aria-label": "Command" });
  const form = h("form", { className: "form", id: "run-form" }, image, cname, cmd,
    h("button", { type: "submit", className: "primary" }, "Run"));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const body = { Image: image.value.trim() };
    const words = cmd.value.trim();
    if (words) body.Cmd = ["sh", "-c", words];
    const q = cname.value.trim() ? `?name=${encodeURIComponent(cname.value.trim())}` : "";
    const ok = await attempt(async () => {
      const made = await api("POST", `/containers/create${q}`, body);
      await api("POST", `/containers/${made.Id}/start`);
    });
    if (ok) {
      cname.value = "";
      refresh();
    }
  };
  return form;
}

export async function render(main, signal) {
  const tbody = h("tbody");
  const all = h("input", { type: "checkbox", id: "show-all", checked: true });
  const search = h("input", { type: "search", placeholder: "filter (/)", "aria-label": "Filter containers" });
  const streams = new Map();
  main.append(
    h("h1", {}, "Containers", h("label", { className: "muted" }, all, " all"), search),
    runForm(() => soon()),
    h("div", { className: "table-wrap" }, h("table", { id: "containers" },
      h("thead", {}, h("tr", {}, ["Name", "State", "Health", "Image", "Ports", "CPU", "Memory", ""].map((t) =>
        h("th", { className: t === "CPU" || t === "Memory" ? "hide-narrow" : "" }, t)))),
      tbody)));

  function sparklines(c, cpuCanvas, memCanvas) {
    if (c.State !== "running") return;
    const ctl = new AbortController();
    signal.addEventListener("abort", () => ctl.abort());
    streams.set(c.Id, ctl);
    const cpu = new Series(cpuCanvas, 30);
    const mem = new Series(memCanvas, 30);
    streamJson("GET", `/containers/${c.Id}/stats?stream=1`, (s) => {
      cpu.push(cpuPercent(s));
      mem.push((s.memory_stats && s.memory_stats.usage) || 0);
      cpuCanvas.title = `${cpuPercent(s).toFixed(1)} %`;
      memCanvas.title = bytes((s.memory_stats && s.memory_stats.usage) || 0);
    }, ctl.signal).catch((e) => {
      if (e.name !== "AbortError" && e.status !== 404 && e.status !== 409) showError(e);
    });
  }

  async function refresh() {
    let list;
    try {
      list = await api("GET", `/containers/json?all=${all.checked ? 1 : 0}`, undefined, signal);
    } catch (e) {
      showError(e);
      return;
    }
    const keep = new Set(list.filter((c) => c.State === "running").map((c) => c.Id));
    for (const [id, ctl] of streams) {
      if (!keep.has(id)) {
        ctl.abort();
        streams.delete(id);
      }
    }
    const filter = search.value.trim().toLowerCase();
    const rows = list
      .filter((c) => !filter || name(c).toLowerCase().includes(filter) || c.Image.toLowerCase().includes(filter))
      .sort((a, b) => name(a).localeCompare(name(b)))
      .map((c) => {
        const old = tbody.querySelector(`tr[data-id="${c.Id}"]`);
        const cpuCanvas = (old && old.state === c.State && old.querySelector("canvas.cpu")) || h("canvas", { className: "spark cpu" });
        const memCanvas = (old && old.state === c.State && old.querySelector("canvas.mem")) || h("canvas", { className: "spark mem" });
        const row = h("tr", { dataset: { id: c.Id, name: name(c), state: c.State } },
          h("td", {}, h("a", { href: `#/containers/${c.Id}` }, name(c))),
          h("td", {}, h("span", { className: `badge state-${c.State}` }, c.State)),
          h("td", {}, health(c.Status)),
          h("td", { className: "mono" }, c.Image),
          h("td", {}, ports(c)),
          h("td", { className: "hide-narrow" }, cpuCanvas),
          h("td", { className: "hide-narrow" }, memCanvas),
          h("td", { className: "actions" }, actions(c, soon)));
        row.state = c.State;
        if (!streams.has(c.Id)) sparklines(c, cpuCanvas, memCanvas);
        return row;
      });
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(h("tr", {}, h("td", { colSpan: 8, className: "muted" }, "No containers")));
  }

  // One refresh at a time, and one more if asked meanwhile (a burst of events is one).
  let running = null, again = false;
  function soon() {
    if (running) {
      again = true;
      return;
    }
    running = refresh().finally(() => {
      running = null;
      if (again) {
        again = false;
        soon();
      }
    });
  }
  all.onchange = soon;
  search.oninput = soon;
  await refresh();
  // Container events refresh the table (no polling).
  streamJson("GET", `/events?filters=${encodeURIComponent(JSON.stringify({ type: ["container"] }))}`,
    () => soon(), signal).catch(showError);
}
