// What the browser tests share: the server under test (COLLOQUY_URL), the
// artifacts folder for screenshots, headless Chromium, signing in, and
// starting a server of their own (COLLOQUY_BIN) for tests that restart one.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const url = process.env.COLLOQUY_URL;
assert.ok(url, "COLLOQUY_URL must name a running server");
export const artifacts = new URL("./artifacts/", import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A new browser context signed in as `name` on the page at `base`. */
export async function signIn(browser, name, base = url, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await page.goto(base + "/");
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText(`Signed in as ${name}`).waitFor();
  return page;
}

/** Creates (or joins) group `name` from the page and waits until it is open. */
export async function openGroup(page, name) {
  await page.getByPlaceholder("new group name").fill(name);
  await page.getByRole("button", { name: "Create" }).click();
  await page.locator("#title", { hasText: name }).waitFor();
}

/** A data dir of its own, for a server that restarts. */
export function dataDir() { return mkdtempSync(join(tmpdir(), "colloquy-browser-")); }

/** Starts `colloquy serve` with `args` on a free port; resolves `{url, stop}`. */
export function startServer(args = []) {
  const bin = process.env.COLLOQUY_BIN;
  assert.ok(bin, "COLLOQUY_BIN must name the colloquy binary");
  const child = spawn(bin, ["serve", "--bind", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve({
        url: m[1],
        stop: () => new Promise((done) => { child.once("exit", done); child.kill("SIGTERM"); }),
      });
    });
    child.once("exit", (code) => reject(new Error(`colloquy exited (${code}) before listening`)));
  });
}

/** A TCP relay on a fixed port in front of a server it can be re-pointed at,
 * cut (every connection dropped, new ones refused) and restored. */
export async function relay(target) {
  const net = await import("node:net");
  const open = new Set();
  let to = new URL(target), accepting = true;
  const server = net.createServer((inbound) => {
    if (!accepting) return inbound.destroy();
    const outbound = net.connect(Number(to.port), to.hostname);
    inbound.pipe(outbound).pipe(inbound);
    for (const s of [inbound, outbound]) { open.add(s); s.on("error", () => {}); s.on("close", () => open.delete(s)); }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() { accepting = false; for (const s of open) s.destroy(); },
    restore(next) { if (next) to = new URL(next); accepting = true; },
    close() { server.close(); for (const s of open) s.destroy(); },
  };
}
