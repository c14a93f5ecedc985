// Compose projects, grouped by Compose's labels: services and their
// containers; up / down / restart a project (the daemon runs `wharf
// compose` against its own API with the project's files: /ui/compose).

import { api, confirmAction, failure, h, jsonLinesFrom, showError, uiFetch } from "../api.js";
import { actions, name } from "./containers.js";

const LABEL = "com.docker.compose.project";

async function run(project, verb, files, workdir, out) {
  out.textContent = "";
  let code = null;
  const init = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ files, workdir }) };
  await jsonLinesFrom(`/ui/compose/${encodeURIComponent(project)}/${verb}`, init, (m) => {
    if (m.stream) out.textContent += m.stream;
    if (m.exit !== undefined) code = m.exit;
  });
  if (code !== 0) throw new Error(`compose ${verb} ${project} failed (exit ${code}): ${out.textContent.trim().split("\n").pop() || ""}`);
}

export async function render(main, signal) {
  const body = h("div", { id: "projects" });
  const file = h("input", { placeholder: "/path/to/compose.yaml", "aria-label": "Compose file", size: 40 });
  const pname = h("input", { placeholder: "project name", "aria-label": "Project name" });
  const out = h("pre", { className: "logs short", id: "compose-output" });
  const upForm = h("form", { className: "form", id: "compose-form" }, file, pname,
    h("button", { type: "submit", className: "primary" }, "Up"));
  upForm.onsubmit = async (e) => {
    e.preventDefault();
    const f = file.value.trim();
    const dir = f.replace(/\/[^/]*$/, "") || "/";
    try {
      await run(pname.value.trim() || dir.split("/").pop(), "up", [f], dir, out);
    } catch (err) {
      showError(err);
    }
    refresh();
  };
  main.append(h("h1", {}, "Compose projects"), upForm, body, h("h2", {}, "Output"), out);

  async function refresh() {
    let list, known;
    try {
      const filters = encodeURIComponent(JSON.stringify({ label: [LABEL] }));
      [list, known] = await Promise.all([api("GET", `/containers/json?all=1&filters=${filters}`, undefined, signal),
        uiFetch("/ui/compose", { signal }).then(async (r) => {
          if (!r.ok) throw await failure(r);
          return r.json();
        })]);
    } catch (e) {
      return showError(e);
    }
    const projects = new Map();
    // Files are run only as remembered here (brought up from this page); a
    // container's labels (an image can set them) only suggest them in the form.
    for (const k of known) projects.set(k.name, { files: k.files, workdir: k.workdir, known: true, services: new Map() });
    for (const c of list) {
      const l = c.Labels || {};
      const p = l[LABEL];
      if (!projects.has(p)) projects.set(p, { files: [], workdir: "", known: false, services: new Map() });
      const proj = projects.get(p);
      if (!proj.known && l["com.docker.compose.project.config_files"]) {
        proj.files = l["com.docker.compose.project.config_files"].split(",");
      }
      const svc = l["com.docker.compose.service"] || "?";
      if (!proj.services.has(svc)) proj.services.set(svc, []);
      proj.services.get(svc).push(c);
    }
    body.replaceChildren(...[...projects.entries()].sort().map(([p, proj]) => {
      const all = [...proj.services.values()].flat();
      const running = all.filter((c) => c.State === "running").length;
      const verb = (v, danger) => h("button", {
        type: "button", className: danger ? "danger" : "", dataset: { verb: v },
        onclick: async () => {
          if (!proj.known && v !== "down") {
            // Not brought up here: the files are the labels' say-so; the user confirms them in the form.
            file.value = proj.files[0] || "";
            pname.value = p;
            file.focus();
            return;
          }
          if (danger && !(await confirmAction(`Take project ${p} down (its containers and networks are removed)?`))) return;
          try {
            await run(p, v, v === "down" && !proj.known ? [] : proj.files, proj.known ? proj.workdir : "", out);
          } catch (e) {
            showError(e);
          }
          refresh();
        },
      }, v[0].toUpperCase() + v.slice(1));
      return h("section", { className: "card", dataset: { project: p } },
        h("h2", {}, p, " ", h("span", { className: "muted" }, `${running}/${all.length} running`), " ",
          verb("up"), verb("restart"), verb("down", true)),
        h("div", { className: "muted mono" }, proj.files.join(", ")),
        h("table", {}, h("tbody", {}, [...proj.services.entries()].sort().map(([s, cs]) => cs.map((c) =>
          h("tr", {}, h("td", {}, s), h("td", {}, h("a", { href: `#/containers/${c.Id}` }, name(c))),
            h("td", {}, h("span", { className: `badge state-${c.State}` }, c.State)),
            h("td", { className: "actions" }, actions(c, refresh))))))));
    }));
    if (!projects.size) body.append(h("p", { className: "muted" }, "No Compose projects"));
  }
  await refresh();
}
