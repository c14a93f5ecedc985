// Events as a live feed (the /events stream), newest first.

import { h, showError, streamJson } from "../api.js";

export async function render(main, signal) {
  const feed = h("div", { className: "table-wrap feed" });
  const tbody = h("tbody", { id: "events" });
  feed.append(h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Type", "Action", "Object"].map((t) => h("th", {}, t)))), tbody));
  main.append(h("h1", {}, "Events"), feed);
  const since = Math.floor(Date.now() / 1000) - 3600;
  streamJson("GET", `/events?since=${since}`, (e) => {
    const a = e.Actor || {};
    const what = (a.Attributes && a.Attributes.name) || (a.ID || "").slice(0, 12);
    tbody.prepend(h("tr", {}, h("td", {}, new Date((e.timeNano || e.time * 1e9) / 1e6).toLocaleTimeString()),
      h("td", {}, e.Type), h("td", {}, e.Action),
      h("td", { className: "mono" }, e.Type === "container" ? h("a", { href: `#/containers/${a.ID}` }, what) : what)));
    while (tbody.childElementCount > 1000) tbody.lastElementChild.remove();
  }, signal).catch(showError);
}
