// System: disk usage and the prunes (each confirmed, each result said).

import { api, attempt, button, bytes, confirmAction, h, showError } from "../api.js";

export async function render(main, signal) {
  const cards = h("div", { className: "cards", id: "usage" });
  const said = h("p", { className: "muted", id: "prune-result" });
  const prune = (label, path, what) => button(label, async () => {
    if (!(await confirmAction(`Remove ${what}?`))) return;
    await attempt(async () => {
      const r = await api("POST", path);
      const n = (r.ContainersDeleted || r.ImagesDeleted || r.VolumesDeleted || r.NetworksDeleted || r.CachesDeleted || []).length;
      said.textContent = `${label}: ${n} removed, ${bytes(r.SpaceReclaimed || 0)} reclaimed`;
      await refresh();
    });
  }, { className: "danger" });
  main.append(h("h1", {}, "System"), cards,
    h("div", { className: "form" },
      prune("Prune containers", "/containers/prune", "every stopped container"),
      prune("Prune images", "/images/prune", "every dangling image"),
      prune("Prune volumes", "/volumes/prune", "every unused anonymous volume"),
      prune("Prune networks", "/networks/prune", "every unused network"),
      prune("Prune build cache", "/build/prune", "the build cache")),
    said);
  async function refresh() {
    let df, info;
    try {
      [df, info] = await Promise.all([api("GET", "/system/df", undefined, signal), api("GET", "/info", undefined, signal)]);
    } catch (e) {
      return showError(e);
    }
    const sum = (xs, f) => (xs || []).reduce((a, x) => a + (f(x) || 0), 0);
    const card = (title, big, small) => h("div", { className: "card" }, h("div", { className: "muted" }, title),
      h("div", { className: "big" }, big), h("div", { className: "muted" }, small));
    cards.replaceChildren(
      card("Images", bytes(df.LayersSize || sum(df.Images, (i) => i.Size)), `${(df.Images || []).length} images`),
      card("Containers", bytes(sum(df.Containers, (c) => c.SizeRw)), `${info.ContainersRunning} running of ${info.Containers}`),
      card("Volumes", bytes(sum(df.Volumes, (v) => v.UsageData && v.UsageData.Size)), `${(df.Volumes || []).length} volumes`),
      card("Build cache", bytes(sum(df.BuildCache, (b) => b.Size)), `${(df.BuildCache || []).length} entries`),
      card("Host", info.Name, `${info.OperatingSystem || ""} · ${info.NCPU} CPUs · ${bytes(info.MemTotal)}`));
  }
  await refresh();
}
