// Volumes: driver, size (the daemon's disk usage), and the containers using each.

import { api, attempt, button, bytes, confirmAction, h, showError } from "../api.js";

export async function render(main, signal) {
  const tbody = h("tbody");
  main.append(h("h1", {}, "Volumes"), h("div", { className: "table-wrap" }, h("table", { id: "volumes" },
    h("thead", {}, h("tr", {}, ["Name", "Driver", "Size", "Used by", ""].map((t) => h("th", {}, t)))), tbody)));
  async function refresh() {
    let df, containers;
    try {
      [df, containers] = await Promise.all([api("GET", "/system/df", undefined, signal),
        api("GET", "/containers/json?all=1", undefined, signal)]);
    } catch (e) {
      return showError(e);
    }
    const users = (v) => containers.filter((c) => (c.Mounts || []).some((m) => m.Type === "volume" && m.Name === v));
    const vols = (df.Volumes || []).sort((a, b) => a.Name.localeCompare(b.Name));
    tbody.replaceChildren(...vols.map((v) => h("tr", { dataset: { volume: v.Name } },
      h("td", { className: "mono" }, v.Name),
      h("td", {}, v.Driver),
      h("td", {}, v.UsageData ? bytes(v.UsageData.Size) : "-"),
      h("td", {}, users(v.Name).map((c) => h("a", { href: `#/containers/${c.Id}` }, c.Names[0].replace(/^\//, ""), " "))),
      h("td", {}, button("Remove", async () => {
        if (!(await confirmAction(`Remove volume ${v.Name}? Its data is lost.`))) return;
        if (await attempt(() => api("DELETE", `/volumes/${encodeURIComponent(v.Name)}`))) refresh();
      }, { className: "danger" })))));
    if (!vols.length) tbody.append(h("tr", {}, h("td", { colSpan: 5, className: "muted" }, "No volumes")));
  }
  await refresh();
}
