// One container: live logs (follow, search, timestamps, ANSI colours),
// live stats charts (CPU, memory, network, block I/O), inspect as a tree,
// processes, and an exec terminal (xterm.js over the /ws/exec WebSocket).

import { api, attempt, button, bytes, cpuPercent, demuxer, failure, h, showError, streamBytes, streamJson, uiFetch } from "../api.js";
import { Series } from "../charts.js";
import { actions, name } from "./containers.js";
import { ansiLine } from "./ansi.js";

function tabs(names, onSelect) {
  const bar = h("div", { className: "tabs", role: "tablist" });
  const buttons = names.map((n) =>
    h("button", { type: "button", role: "tab", dataset: { tab: n.toLowerCase() }, onclick: () => select(n) }, n));
  function select(n) {
    for (const b of buttons) b.setAttribute("aria-selected", String(b.textContent === n));
    onSelect(n);
  }
  bar.append(...buttons);
  return { bar, select };
}

function logsTab(pane, id, tty, signal) {
  const out = h("pre", { className: "logs", id: "logs", tabIndex: 0 });
  const search = h("input", { type: "search", placeholder: "search logs (/)", "aria-label": "Search logs" });
  const stamps = h("input", { type: "checkbox", id: "log-ts" });
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true });
  pane.append(h("div", { className: "form" }, search, h("label", {}, stamps, " timestamps"),
    h("label", {}, follow, " follow")), out);
  const matches = (line) => !search.value || line.textContent.toLowerCase().includes(search.value.toLowerCase());
  search.oninput = () => {
    for (const l of out.children) l.classList.toggle("hidden", !matches(l));
  };
  let ctl = null;
  const decoder = new TextDecoder();
  let partial = "";
  function add(text) {
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop();
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    for (const l of lines) {
      const sp = l.indexOf(" ");
      const [ts, body] = sp > 0 ? [l.slice(0, sp), l.slice(sp + 1)] : ["", l];
      const line = h("div", {}, h("span", { className: "ts", hidden: !stamps.checked }, ts, " "), ansiLine(body));
      if (!matches(line)) line.classList.add("hidden");
      out.append(line);
    }
    while (out.childElementCount > 5000) out.firstElementChild.remove();
    if (atEnd && follow.checked) out.scrollTop = out.scrollHeight;
  }
  stamps.onchange = () => {
    for (const t of out.querySelectorAll(".ts")) t.hidden = !stamps.checked;
  };
  function start() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    signal.addEventListener("abort", () => ctl.abort());
    out.replaceChildren();
    partial = "";
    const onChunk = tty ? (c) => add(decoder.decode(c, { stream: true }))
      : demuxer((_, data) => add(decoder.decode(data, { stream: true })));
    const q = `stdout=1&stderr=1&timestamps=1&tail=1000&follow=${follow.checked ? 1 : 0}`;
    streamBytes("GET", `/containers/${id}/logs?${q}`, onChunk, ctl.signal).catch(showError);
  }
  follow.onchange = start;
  start();
}

function statsTab(pane, id, signal) {
  const grid = h("div", { className: "charts" });
  pane.append(grid);
  const put = (title, id2, opts) => {
    const canvas = h("canvas", { id: id2 });
    const value = h("span", { className: "value" });
    grid.append(h("div", { className: "chart" }, h("strong", {}, title), value, canvas));
    return { series: new Series(canvas, 60, opts), value };
  };
  const cpu = put("CPU %", "chart-cpu", {});
  const mem = put("Memory", "chart-mem", { format: bytes });
  const net = put("Network rx / tx (bytes/s)", "chart-net", { second: true, format: bytes });
  const blk = put("Block I/O read / write (bytes/s)", "chart-blk", { second: true, format: bytes });
  let last = null;
  const sum = (o, k) => Object.values(o || {}).reduce((a, n) => a + (n[k] || 0), 0);
  const io = (s, op) => ((s.blkio_stats && s.blkio_stats.io_service_bytes_recursive) || [])
    .filter((e) => (e.op || "").toLowerCase() === op).reduce((a, e) => a + e.value, 0);
  streamJson("GET", `/containers/${id}/stats?stream=1`, (s) => {
    const now = { t: Date.parse(s.read) / 1000 || Date.now() / 1000, rx: sum(s.networks, "rx_bytes"),
      tx: sum(s.networks, "tx_bytes"), r: io(s, "read"), w: io(s, "write") };
    const p = cpuPercent(s);
    const used = (s.memory_stats && s.memory_stats.usage) || 0;
    cpu.series.push(p);
    cpu.value.textContent = `${p.toFixed(1)} %`;
    mem.series.push(used);
    mem.value.textContent = `${bytes(used)} / ${bytes((s.memory_stats && s.memory_stats.limit) || 0)}`;
    mem.value.dataset.bytes = String(used);
    if (last) {
      const dt = Math.max(0.001, now.t - last.t);
      net.series.push((now.rx - last.rx) / dt, (now.tx - last.tx) / dt);
      blk.series.push((now.r - last.r) / dt, (now.w - last.w) / dt);
      net.value.textContent = `${bytes(now.rx)} / ${bytes(now.tx)}`;
      blk.value.textContent = `${bytes(now.r)} / ${bytes(now.w)}`;
    }
    last = now;
  }, signal).catch(showError);
}

function tree(value, key) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const summary = h("summary", {}, key !== undefined ? h("span", { className: "k" }, key, ": ") : "",
      Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`);
    const d = h("details", { open: key === undefined }, summary);
    d.append(...entries.map(([k, v]) => tree(v, k)));
    return d;
  }
  return h("div", {}, h("span", { className: "k" }, key, ": "), h("span", { className: "mono" }, JSON.stringify(value)));
}

async function topTab(pane, id, signal) {
  const table = h("table", { id: "top" });
  pane.append(h("div", { className: "form" }, button("Refresh", () => load())), h("div", { className: "table-wrap" }, table));
  async function load() {
    await attempt(async () => {
      const top = await api("GET", `/containers/${id}/top`, undefined, signal);
      table.replaceChildren(h("thead", {}, h("tr", {}, top.Titles.map((t) => h("th", {}, t)))),
        h("tbody", {}, top.Processes.map((p) => h("tr", {}, p.map((c) => h("td", { className: "mono" }, c))))));
    });
  }
  await load();
}

async function terminalTab(pane, id, signal) {
  const box = h("div", { className: "terminal", id: "terminal" });
  const shell = h("input", { value: "sh", "aria-label": "Command", size: 12 });
  const connect = h("button", { type: "button", className: "primary" }, "Connect");
  pane.append(h("div", { className: "form" }, shell, connect), box);
  let session = null;
  async function open() {
    if (session) session.close();
    const term = new window.Terminal({ convertEol: false, fontSize: 13, cursorBlink: true });
    box.replaceChildren();
    term.open(box);
    // As many columns and rows as the box holds, now and whenever the window changes.
    const fitter = new window.FitAddon.FitAddon();
    term.loadAddon(fitter);
    fitter.fit();
    const { cols, rows } = term;
    let exec;
    try {
      exec = await api("POST", `/containers/${id}/exec`, {
        // No COLUMNS/LINES: they would override the terminal's size for good (busybox, ncurses).
        AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: shell.value.trim().split(/\s+/),
      });
    } catch (e) {
      showError(e);
      return;
    }
    let ticket;
    try {
      const r = await uiFetch("/ui/ticket", { method: "POST" });
      if (!r.ok) throw new Error(`a terminal ticket: ${(await failure(r)).message}`);
      ticket = (await r.json()).ticket;
    } catch (e) {
      showError(e);
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/exec/${encodeURIComponent(exec.Id)}?ticket=${ticket}&h=${rows}&w=${cols}`);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m) => term.write(new Uint8Array(m.data));
    ws.onerror = () => showError(new Error("the terminal's connection failed"));
    ws.onclose = () => term.write("\r\n[session ended]\r\n");
    const enc = new TextEncoder();
    term.onData((d) => ws.readyState === 1 && ws.send(enc.encode(d)));
    term.onResize(({ cols: w, rows: r }) => {
      api("POST", `/exec/${exec.Id}/resize?h=${r}&w=${w}`).catch(showError);
    });
    session = ws;
    window.wharfTerminal = term;
    term.focus();
    fit = () => fitter.fit();
  }
  let fit = () => {};
  const onResize = () => fit();
  window.addEventListener("resize", onResize);
  connect.onclick = open;
  signal.addEventListener("abort", () => {
    window.removeEventListener("resize", onResize);
    if (session) session.close();
  });
  await open();
}

export async function render(main, signal, id) {
  const c = await api("GET", `/containers/${encodeURIComponent(id)}/json`, undefined, signal);
  const summary = { Id: c.Id, Names: [c.Name], State: c.State.Status };
  const head = h("h1", {}, h("a", { href: "#/containers" }, "Containers"), " / ", name(summary),
    h("span", { className: `badge state-${c.State.Status}`, id: "state" }, c.State.Status),
    c.State.Health ? h("span", { className: `badge health-${c.State.Health.Status}` }, c.State.Health.Status) : "");
  const acts = h("div", { className: "form" }, actions(summary, () => render(main.replaceChildren() || main, signal, id)));
  const pane = h("div", { id: "pane" });
  const panes = {
    Logs: (s) => logsTab(pane, c.Id, c.Config.Tty, s),
    Stats: (s) => statsTab(pane, c.Id, s),
    Inspect: () => pane.append(h("div", { className: "tree", id: "inspect" }, tree(c))),
    Processes: (s) => topTab(pane, c.Id, s),
    Terminal: (s) => terminalTab(pane, c.Id, s),
  };
  let tabSignal = null;
  const t = tabs(Object.keys(panes), (n) => {
    if (tabSignal) tabSignal.abort();
    tabSignal = new AbortController();
    signal.addEventListener("abort", () => tabSignal.abort());
    pane.replaceChildren();
    // Each tab's streams end with it.
    Promise.resolve(panes[n](tabSignal.signal)).catch(showError);
  });
  main.append(head, h("div", { className: "mono muted" }, c.Id, " · ", c.Config.Image), acts, t.bar, pane);
  t.select("Logs");
}
