// Networks: driver, subnet, and who is attached with which addresses.

import { api, attempt, button, confirmAction, h, showError } from "../api.js";

export async function render(main, signal) {
  const body = h("div", { id: "networks" });
  main.append(h("h1", {}, "Networks"), body);
  async function refresh() {
    let list;
    try {
      list = await api("GET", "/networks", undefined, signal);
    } catch (e) {
      return showError(e);
    }
    list.sort((a, b) => a.Name.localeCompare(b.Name));
    const details = await Promise.all(list.map((n) =>
      api("GET", `/networks/${n.Id}`, undefined, signal).catch((e) => (showError(e), n))));
    body.replaceChildren(...details.map((n) => {
      const cfg = (n.IPAM && n.IPAM.Config) || [];
      const members = Object.entries(n.Containers || {});
      const predefined = ["bridge", "host", "none"].includes(n.Name);
      return h("section", { className: "card", dataset: { network: n.Name } },
        h("h2", {}, n.Name, " ", h("span", { className: "muted" }, n.Driver, " ", cfg.map((c) => c.Subnet).join(", ")),
          predefined ? "" : button("Remove", async () => {
            if (!(await confirmAction(`Remove network ${n.Name}?`))) return;
            if (await attempt(() => api("DELETE", `/networks/${n.Id}`))) refresh();
          }, { className: "danger" })),
        members.length
          ? h("table", {}, h("tbody", {}, members.map(([id, m]) => h("tr", {},
            h("td", {}, h("a", { href: `#/containers/${id}` }, m.Name || id.slice(0, 12))),
            h("td", { className: "mono" }, m.IPv4Address || ""), h("td", { className: "mono" }, m.IPv6Address || ""),
            h("td", { className: "mono muted" }, m.MacAddress || "")))))
          : h("p", { className: "muted" }, "No containers"));
    }));
  }
  await refresh();
}
