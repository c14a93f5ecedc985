// Images: the list, pull with a progress bar (the pull stream's layer
// progress summed), tag, remove (confirmed), history.

import { ago, api, attempt, button, bytes, confirmAction, h, showError, streamJson } from "../api.js";

function pullForm(refresh, signal) {
  const ref = h("input", { name: "ref", placeholder: "image to pull (name:tag)", required: true, "aria-label": "Image reference" });
  const bar = h("progress", { className: "progress", id: "pull-progress", max: 1, value: 0, hidden: true });
  const status = h("span", { className: "muted", id: "pull-status" });
  const form = h("form", { className: "form", id: "pull-form" }, ref, h("button", { type: "submit", className: "primary" }, "Pull"), bar, status);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const r = ref.value.trim();
    const at = r.lastIndexOf(":");
    const [name, tag] = at > r.lastIndexOf("/") ? [r.slice(0, at), r.slice(at + 1)] : [r, "latest"];
    const layers = new Map();
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "pulling…";
    const ok = await attempt(() => streamJson("POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`, (m) => {
      if (m.error) throw new Error(m.error);
      const d = m.progressDetail || {};
      if (m.id && d.total) layers.set(m.id, { current: d.current || 0, total: d.total });
      if (m.id && /complete|already exists/i.test(m.status || "") && layers.has(m.id)) {
        const l = layers.get(m.id);
        l.current = l.total;
      }
      const total = [...layers.values()].reduce((a, l) => a + l.total, 0);
      const current = [...layers.values()].reduce((a, l) => a + Math.min(l.current, l.total), 0);
      if (total > 0) {
        bar.max = total;
        bar.value = current;
      }
      status.textContent = m.status || "";
    }, signal));
    if (ok) {
      bar.max = 1;
      bar.value = 1;
      status.textContent = `pulled ${name}:${tag}`;
      refresh();
    } else {
      bar.hidden = true;
      status.textContent = "";
    }
  };
  return form;
}

async function history(row, id, signal) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("history")) return next.remove();
  const rows = await api("GET", `/images/${encodeURIComponent(id)}/history`, undefined, signal);
  const table = h("table", {}, h("tbody", {}, rows.map((r) =>
    h("tr", {}, h("td", { className: "mono" }, (r.Id || "").replace("sha256:", "").slice(0, 12)),
      h("td", {}, ago(r.Created)), h("td", { className: "mono" }, (r.CreatedBy || "").slice(0, 100)), h("td", {}, bytes(r.Size))))));
  row.after(h("tr", { className: "history" }, h("td", { colSpan: 6 }, table)));
}

export async function render(main, signal) {
  const tbody = h("tbody");
  main.append(h("h1", {}, "Images"), pullForm(() => refresh(), signal),
    h("div", { className: "table-wrap" }, h("table", { id: "images" },
      h("thead", {}, h("tr", {}, ["Repository:tag", "ID", "Created", "Size", ""].map((t) => h("th", {}, t)))), tbody)));
  async function refresh() {
    let list;
    try {
      list = await api("GET", "/images/json", undefined, signal);
    } catch (e) {
      return showError(e);
    }
    tbody.replaceChildren(...list.map((img) => {
      const tags = img.RepoTags && img.RepoTags.length ? img.RepoTags : ["<none>:<none>"];
      const short = img.Id.replace("sha256:", "").slice(0, 12);
      const row = h("tr", { dataset: { id: img.Id, tags: tags.join(" ") } },
        h("td", { className: "mono" }, tags.join(", ")),
        h("td", { className: "mono" }, short),
        h("td", {}, ago(img.Created)),
        h("td", {}, bytes(img.Size)),
        h("td", { className: "actions" },
          button("History", () => history(row, img.Id, signal).catch(showError)),
          button("Tag", async () => {
            const to = prompt(`New tag for ${tags[0]} (repository:tag)`);
            if (!to) return;
            const at = to.lastIndexOf(":");
            const [repo, tag] = at > to.lastIndexOf("/") ? [to.slice(0, at), to.slice(at + 1)] : [to, "latest"];
            if (await attempt(() => api("POST", `/images/${img.Id}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`))) refresh();
          }),
          button("Remove", async () => {
            const what = tags[0] === "<none>:<none>" ? short : tags[0];
            if (!(await confirmAction(`Remove image ${what}?`))) return;
            if (await attempt(() => api("DELETE", `/images/${encodeURIComponent(what)}`))) refresh();
          }, { className: "danger" })));
      return row;
    }));
    if (!list.length) tbody.append(h("tr", {}, h("td", { colSpan: 5, className: "muted" }, "No images")));
  }
  await refresh();
}
