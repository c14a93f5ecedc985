// The dashboard's shell: a hash router (#/containers, #/containers/ID, …),
// keyboard shortcuts, the theme. A view renders into <main> and gets an
// AbortSignal that ends its streams when another view replaces it.

import { showError } from "./api.js";
import * as containers from "./views/containers.js";
import * as container from "./views/container.js";
import * as images from "./views/images.js";
import * as networks from "./views/networks.js";
import * as volumes from "./views/volumes.js";
import * as compose from "./views/compose.js";
import * as events from "./views/events.js";
import * as system from "./views/system.js";

const routes = [
  [/^#\/containers\/([^/]+)$/, container],
  [/^#\/containers$/, containers],
  [/^#\/images$/, images],
  [/^#\/networks$/, networks],
  [/^#\/volumes$/, volumes],
  [/^#\/compose$/, compose],
  [/^#\/events$/, events],
  [/^#\/system$/, system],
];

let current = null;

async function render() {
  const hash = location.hash || "#/containers";
  const found = routes.find(([re]) => re.test(hash));
  if (!found) {
    location.hash = "#/containers";
    return;
  }
  const [re, view] = found;
  const args = hash.match(re).slice(1).map(decodeURIComponent);
  if (current) current.abort();
  current = new AbortController();
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", hash.startsWith(a.getAttribute("href")));
  }
  const main = document.getElementById("view");
  main.replaceChildren();
  try {
    await view.render(main, current.signal, ...args);
  } catch (e) {
    showError(e);
  }
}

function toggleTheme() {
  const root = document.documentElement;
  root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("wharf-theme", root.dataset.theme);
  window.dispatchEvent(new Event("wharf-theme"));
}

document.getElementById("theme").addEventListener("click", toggleTheme);
document.addEventListener("keydown", (e) => {
  const t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (t.closest && t.closest("input, textarea, select, .terminal, dialog")) return;
  if (e.key === "t") return toggleTheme();
  if (e.key === "/") {
    const search = document.querySelector("main input[type=search]");
    if (search) {
      e.preventDefault();
      search.focus();
    }
    return;
  }
  const link = [...document.querySelectorAll("nav a[data-key]")].find((a) => a.dataset.key === e.key);
  if (link) location.hash = link.getAttribute("href");
});
window.addEventListener("hashchange", render);
window.addEventListener("unhandledrejection", (e) => showError(e.reason));
render();
