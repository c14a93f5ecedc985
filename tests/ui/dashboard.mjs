// The dashboard in headless Chromium against a real `wharf daemon --ui`
// (started by tests/ui.rs, which passes what it made in the environment):
// run a container and see it running, its logs live, `echo hi` in the
// exec terminal, the memory chart move as it allocates, remove it; pull an
// image from a loopback registry with progress; a Compose project up and
// down; every view's screenshot saved in $SHOTS.
//
// Waits are on what the page shows (Playwright's auto-waiting locators and
// waitForFunction), never on fixed sleeps.

import { chromium } from "playwright-core";

const base = process.env.WHARF_UI;
const shots = process.env.SHOTS;
const registry = process.env.REGISTRY;
const composeFile = process.env.COMPOSE_FILE;
const token = process.env.WHARF_UI_TOKEN;
const timeout = 20000;

function ok(what) {
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const shownErrors = () => page.locator("#errors .error").allTextContents();

  // Log in once (`/?token=`: kept in the tab's sessionStorage, gone from the address bar).
  await page.goto(`${base}/?token=${token}#/containers`);
  await page.waitForFunction(() => !location.search.includes("token"));
  // Containers: run one from the form; it shows as running.
  await page.fill("#run-form input[name=image]", "busybox:local");
  await page.fill("#run-form input[name=name]", "ui-web");
  await page.fill("#run-form input[name=cmd]", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done");
  await page.click("#run-form button[type=submit]");
  const row = page.locator('#containers tr[data-name="ui-web"]');
  await row.locator(".badge.state-running").waitFor();
  ok("a container started from the UI is shown running");
  await shot("containers");
  // The lifecycle buttons: pause, unpause, stop, start (each followed by its state).
  for (const [action, state] of [["pause", "paused"], ["unpause", "running"], ["stop", "exited"], ["start", "running"]]) {
    await row.locator(`button[data-action="${action}"]`).click();
    await row.locator(`.badge.state-${state}`).waitFor();
  }
  ok("pause, unpause, stop and start from the table");

  // A refused action shows the API's error in the page.
  await page.fill("#run-form input[name=image]", "no-such-image:nope");
  await page.fill("#run-form input[name=name]", "");
  await page.fill("#run-form input[name=cmd]", "");
  await page.click("#run-form button[type=submit]");
  await page.locator("#errors .error", { hasText: "no-such-image" }).waitFor();
  ok(`an API error is shown: ${(await shownErrors()).pop()}`);
  await page.locator("#errors .error button").first().click();

  // Its page: logs appear live (a later line than the first shown arrives).
  await row.locator("td a").first().click();
  await page.locator("#logs div", { hasText: "tick" }).first().waitFor();
  const first = await page.locator("#logs div").count();
  await page.waitForFunction((n) => document.querySelectorAll("#logs div").length > n + 3, first);
  ok("logs stream in live");
  await page.fill("input[type=search]", "tick 1");
  await page.check("#log-ts");
  await shot("container-logs");

  // The exec terminal: `echo hi` is answered by `hi`.
  await page.click('.tabs button[data-tab="terminal"]');
  await page.waitForFunction(() => window.wharfTerminal && document.querySelector("#terminal .xterm"));
  await page.waitForFunction(() => {
    const b = window.wharfTerminal.buffer.active;
    for (let i = 0; i < b.length; i++) if ((b.getLine(i).translateToString(true) || "").includes("#")) return true;
    return false;
  });
  await page.locator("#terminal .xterm").click();
  await page.keyboard.type("echo h''i\n");
  await page.waitForFunction(() => {
    const b = window.wharfTerminal.buffer.active;
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).trim() === "hi") return true;
    return false;
  });
  ok("`echo hi` in the exec terminal reads back `hi`");
  // A narrower window: the terminal refits and the process is told its new size.
  const cols = await page.evaluate(() => window.wharfTerminal.cols);
  await page.setViewportSize({ width: 800, height: 860 });
  await page.waitForFunction((c) => window.wharfTerminal.cols < c, cols);
  await page.keyboard.type("stty size\n");
  const want = await page.evaluate(() => `${window.wharfTerminal.rows} ${window.wharfTerminal.cols}`);
  await page.waitForFunction((w) => {
    const b = window.wharfTerminal.buffer.active;
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).trim() === w) return true;
    return false;
  }, want);
  ok(`the terminal resized with the window: stty size says ${want}`);
  await page.setViewportSize({ width: 1280, height: 860 });
  await shot("container-terminal");

  // Stats: the memory chart moves when the container allocates (~64 MiB held by a shell variable).
  await page.click('.tabs button[data-tab="stats"]');
  const memValue = page.locator("#pane .chart .value").nth(1);
  await page.waitForFunction(() => Number(document.querySelectorAll("#pane .chart .value")[1].dataset.bytes || 0) > 0);
  const before = Number(await memValue.getAttribute("data-bytes"));
  const id = await page.evaluate(() => location.hash.split("/").pop());
  const exec = await page.evaluate(async (cid) => {
    const h = { "X-Wharf-UI": "1", "Content-Type": "application/json",
      Authorization: `Bearer ${sessionStorage.getItem("wharf-ui-token")}` };
    const made = await (await fetch(`/api/containers/${cid}/exec`, { method: "POST", headers: h,
      body: JSON.stringify({ Cmd: ["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); sleep 1000"] }) })).json();
    const r = await fetch(`/api/exec/${made.Id}/start`, { method: "POST", headers: h, body: JSON.stringify({ Detach: true }) });
    return r.status;
  }, id);
  if (exec >= 300) throw new Error(`exec start answered ${exec}`);
  await page.waitForFunction((b) => Number(document.querySelectorAll("#pane .chart .value")[1].dataset.bytes) > b + 32 * 1048576, before, { timeout: 30000 });
  ok(`the memory chart moved: ${before} -> ${await memValue.getAttribute("data-bytes")} bytes`);
  await shot("container-stats");
  await page.click('.tabs button[data-tab="inspect"]');
  await page.locator("#inspect .k", { hasText: "Config" }).first().waitFor();
  await shot("container-inspect");
  await page.click('.tabs button[data-tab="processes"]');
  await page.locator("#top td", { hasText: "sleep" }).first().waitFor();
  ok("processes listed");
  await shot("container-processes");

  // Remove it (confirmed); it leaves the table.
  await page.goto(`${base}/#/containers`);
  await row.locator('button[data-action="remove"]').click();
  await page.click("#confirm-ok");
  await row.waitFor({ state: "detached" });
  ok("removed from the UI");

  // Images: pull from the loopback registry with a progress bar.
  await page.goto(`${base}/#/images`);
  await page.fill("#pull-form input[name=ref]", `${registry}/ui/busybox:1`);
  await page.click("#pull-form button[type=submit]");
  await page.locator("#pull-status", { hasText: "pulled" }).waitFor({ timeout: 60000 });
  const [value, max] = await page.evaluate(() => [document.getElementById("pull-progress").value, document.getElementById("pull-progress").max]);
  if (!(max > 0 && value === max)) throw new Error(`progress bar at ${value}/${max}`);
  await page.locator(`#images tr[data-tags*="${registry}/ui/busybox:1"]`).waitFor();
  ok(`pulled ${registry}/ui/busybox:1 with a full progress bar`);
  await shot("images");
  // History, tag (the prompt answered), remove (confirmed).
  const pulled = page.locator(`#images tr[data-tags*="${registry}/ui/busybox:1"]`);
  await pulled.locator("button", { hasText: "History" }).click();
  await page.locator("#images tr.history td").first().waitFor();
  page.once("dialog", (d) => d.accept("ui/retagged:2"));
  await pulled.locator("button", { hasText: "Tag" }).click();
  const retagged = page.locator('#images tr[data-tags*="ui/retagged:2"]');
  await retagged.waitFor();
  const imageId = await retagged.getAttribute("data-id");
  const tagCount = (await retagged.getAttribute("data-tags")).split(" ").length;
  await retagged.locator("button", { hasText: "Remove" }).click();
  await page.click("#confirm-ok");
  // One of its names is gone (the first, which the button removes).
  await page.waitForFunction(([id, n]) => {
    const r = document.querySelector(`#images tr[data-id="${id}"]`);
    return !r || r.dataset.tags.split(" ").length < n;
  }, [imageId, tagCount]);
  ok("image history, tag and remove");

  // Compose: a project up, then down.
  await page.goto(`${base}/#/compose`);
  await page.fill("#compose-form input[aria-label='Compose file']", composeFile);
  await page.fill("#compose-form input[aria-label='Project name']", "uiproj");
  await page.click("#compose-form button[type=submit]");
  const proj = page.locator('#projects section[data-project="uiproj"]');
  await proj.locator(".badge.state-running").first().waitFor({ timeout: 60000 });
  ok("compose project up");
  await shot("compose");
  await proj.locator('button[data-verb="down"]').click();
  await page.click("#confirm-ok");
  await page.waitForFunction(() => {
    const s = document.querySelector('#projects section[data-project="uiproj"]');
    return s && !s.querySelector(".badge");
  }, undefined, { timeout: 60000 });
  ok("compose project down");

  const shown = { networks: '#networks section[data-network="bridge"]', volumes: "#volumes tbody tr",
    events: "#events tr", system: "#usage .card" };
  for (const [view, what] of Object.entries(shown)) {
    await page.goto(`${base}/#/${view}`);
    await page.locator(what).first().waitFor();
    await shot(view);
  }
  ok("networks, volumes, events and system rendered");

  // Dark theme and a narrow window.
  await page.goto(`${base}/#/containers`);
  await page.keyboard.press("t");
  await page.setViewportSize({ width: 420, height: 800 });
  await shot("containers-dark-narrow");
  const leftover = await shownErrors();
  if (leftover.length) throw new Error(`errors shown: ${leftover.join(" | ")}`);
  if (errors.length) throw new Error(errors.join("\n"));
  console.log("PASS");
} catch (e) {
  // What the page showed when it failed: its errors, the compose output, a screenshot.
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    console.log(`page ${p.url()}`);
    console.log(`errors shown: ${(await p.locator("#errors .error").allTextContents()).join(" | ")}`);
    const out = p.locator("#compose-output");
    if (await out.count()) console.log(`compose output: ${await out.textContent()}`);
    await p.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
  }
  throw e;
} finally {
  await browser.close();
}
