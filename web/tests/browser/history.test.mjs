// The chat page over time: history scrolled back to the first message, a
// server restart (with and without its data), reloads, JWT mode, replies and
// refused actions, and keyboard use with readable contrast.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { url, artifacts, launch, signIn, openGroup, dataDir, startServer, relay } from "./harness.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
const tag = (name) => `${name}-${process.pid}`;

async function rest(base, method, path, body, identity) {
  const headers = { "content-type": "application/json" };
  if (identity) headers["x-identity"] = identity;
  const r = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
  return r.status === 204 ? null : r.json();
}

test("120 messages of history scroll back to the first, each once, in order", async () => {
  const me = tag("ivy"), room = tag("long");
  const c = await rest(url, "POST", "/v1/conversations", { unique_name: room, friendly_name: room, participants: [me] });
  for (let i = 0; i < 120; i++) {
    await rest(url, "POST", `/v1/conversations/${c.id}/messages`, { author: "writer", body: `m${String(i).padStart(3, "0")}` });
  }
  const page = await signIn(browser, me);
  await page.locator("#conversations button", { hasText: room }).click();
  await page.locator("#messages li", { hasText: "m119" }).waitFor();
  assert.ok((await page.locator("#messages li").count()) < 120, "not everything at once");
  // Scroll to the top until the first message is there.
  for (let i = 0; i < 20 && !(await page.locator("#messages li", { hasText: "m000" }).count()); i++) {
    await page.locator("#history").evaluate((h) => { h.scrollTop = 0; h.dispatchEvent(new Event("scroll")); });
    await page.waitForTimeout(150);
  }
  const bodies = await page.locator("#messages li .body").allTextContents();
  const want = Array.from({ length: 120 }, (_, i) => `m${String(i).padStart(3, "0")}`);
  assert.deepEqual(bodies, want);
  assert.equal(await page.locator("#older").isHidden(), true, "nothing older to load");
  await page.screenshot({ path: artifacts + "history-top.png" });
});

test("a server restart: the page says so, sends what was typed meanwhile once, and shows what the server holds", async () => {
  const dir = dataDir();
  let server = await startServer(["--data-dir", dir]);
  const r = await relay(server.url);
  try {
    const me = tag("jay"), other = tag("kim"), room = tag("restart");
    const page = await signIn(browser, me, r.url);
    await openGroup(page, room);
    await rest(server.url, "POST", `/v1/conversations/${room}/participants`, { identity: other });
    await rest(server.url, "POST", `/v1/conversations/${room}/messages`, { author: other, body: "before the restart" });
    await page.locator("#messages li", { hasText: "before the restart" }).waitFor();

    // The server stops; the page says it is offline; a message typed now waits.
    r.cut();
    await server.stop();
    await page.locator("#connection", { hasText: "Offline" }).waitFor({ timeout: 5000 });
    const box = page.getByRole("textbox", { name: "Message", exact: true });
    await box.fill("typed while it was down");
    await box.press("Enter");
    await page.locator("#outgoing li", { hasText: "typed while it was down" }).waitFor();
    assert.equal(await box.inputValue(), "", "kept in the list, not in the box");
    await page.screenshot({ path: artifacts + "restart-waiting.png" });

    // Back on the same data: online again, the waiting message goes out once,
    // and what others write after the restart arrives.
    server = await startServer(["--data-dir", dir]);
    r.restore(server.url);
    await page.locator("#connection", { hasText: "Online" }).waitFor({ timeout: 10000 });
    await page.locator("#messages li", { hasText: "typed while it was down" }).waitFor({ timeout: 10000 });
    await page.locator("#outgoing li").waitFor({ state: "detached" });
    await rest(server.url, "POST", `/v1/conversations/${room}/messages`, { author: other, body: "after the restart" });
    await page.locator("#messages li", { hasText: "after the restart" }).waitFor();
    const bodies = await page.locator("#messages li .body").allTextContents();
    assert.deepEqual(bodies, ["before the restart", "typed while it was down", "after the restart"]);
    const stored = await rest(server.url, "GET", `/v1/conversations/${room}/messages`);
    assert.equal(stored.items.filter((m) => m.body === "typed while it was down").length, 1, "stored once");
    await page.screenshot({ path: artifacts + "restart-back.png" });
  } finally {
    r.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a restart without the data: stale conversations and presence go", async () => {
  let server = await startServer();
  const r = await relay(server.url);
  try {
    const me = tag("lee"), room = tag("forgotten");
    const page = await signIn(browser, me, r.url);
    await openGroup(page, room);
    await page.locator(`#people [aria-label="${me} online"]`).waitFor();
    r.cut();
    await server.stop();
    await page.locator("#connection", { hasText: "Offline" }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator("#people .dot.online").count(), 0, "no green dots while offline");
    server = await startServer();
    r.restore(server.url);
    await page.locator("#connection", { hasText: "Online" }).waitFor({ timeout: 10000 });
    await page.getByRole("alert").filter({ hasText: "no longer on the server" }).waitFor({ timeout: 10000 });
    await page.locator("#conversations button", { hasText: room }).waitFor({ state: "detached" });
    assert.equal(await page.locator("#title").textContent(), "No conversation");
  } finally {
    r.close();
    await server.stop();
  }
});

test("a reload keeps who you are and the open conversation; a JWT server takes ?token=", async () => {
  const me = tag("max"), room = tag("kept");
  const page = await signIn(browser, me);
  await openGroup(page, room);
  await page.reload();
  await page.getByText(`Signed in as ${me}`).waitFor();
  await page.locator("#title", { hasText: room }).waitFor();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Your name").waitFor();

  const server = await startServer(["--jwt-secret", "browser-secret"]);
  try {
    const { token } = await rest(server.url, "POST", "/v1/tokens", { identity: tag("nia") });
    const jwtPage = await (await browser.newContext()).newPage();
    await jwtPage.goto(`${server.url}/?token=${encodeURIComponent(token)}`);
    await jwtPage.getByText(`Signed in as ${tag("nia")}`).waitFor();
    // Without a token the server refuses, and the page says so.
    const refused = await (await browser.newContext()).newPage();
    await refused.goto(server.url + "/");
    await refused.getByLabel("Your name").fill("nobody");
    await refused.getByRole("button", { name: "Connect" }).click();
    await refused.getByRole("alert").filter({ hasText: "Could not connect" }).waitFor();
  } finally {
    await server.stop();
  }
});

test("replies quote their author and text, and refused actions say why", async () => {
  const me = tag("oli"), room = tag("quotes");
  const page = await signIn(browser, me);
  await openGroup(page, room);
  const box = page.getByRole("textbox", { name: "Message", exact: true });
  await box.fill("the original words here");
  await box.press("Enter");
  const original = page.locator("#messages li", { hasText: "the original words here" });
  await original.waitFor();
  await original.getByRole("button", { name: `reply to ${me}` }).click();
  await box.fill("an answer");
  await box.press("Enter");
  await page.locator("#messages li", { hasText: "an answer" }).locator(".quote", { hasText: `${me}: “the original words here”` }).waitFor();

  // A direct conversation with yourself is refused, and the page says why.
  await page.getByPlaceholder("direct with…").fill(me);
  await page.getByRole("button", { name: "Open" }).click();
  await page.getByRole("alert").filter({ hasText: "two different users" }).waitFor();
  // Joining a closed group is refused too.
  const closed = tag("closed");
  await rest(url, "POST", "/v1/conversations", { unique_name: closed, friendly_name: closed });
  await rest(url, "PATCH", `/v1/conversations/${closed}`, { state: "closed" });
  await page.getByPlaceholder("new group name").fill(closed);
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("alert").filter({ hasText: `Could not open “${closed}”` }).waitFor();
  await page.screenshot({ path: artifacts + "refused-action.png" });
});

// WCAG's contrast ratio of two CSS colours as the browser computed them.
function contrastInPage() {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(`${el.tagName}.${el.className} “${el.textContent.trim().slice(0, 20)}” ${ratio.toFixed(2)}`);
  }
  return worst;
}

test("keyboard only, every control labelled, text contrast at least 4.5:1", async () => {
  const me = tag("pat"), room = tag("keys");
  const page = await (await browser.newContext()).newPage();
  await page.goto(url + "/");
  // The name field is the first stop; Enter submits.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "identity");
  await page.keyboard.type(me);
  await page.keyboard.press("Enter");
  await page.getByText(`Signed in as ${me}`).waitFor();
  await page.getByLabel("Group", { exact: true }).focus();
  await page.keyboard.type(room);
  await page.keyboard.press("Enter");
  await page.locator("#title", { hasText: room }).waitFor();
  // Opening a conversation puts the cursor in the message box.
  assert.equal(await page.evaluate(() => document.activeElement.id), "text");
  await page.keyboard.type("sent with the keyboard http://example.com/x");
  await page.keyboard.press("Enter");
  await page.locator("#messages li", { hasText: "sent with the keyboard" }).waitFor();
  await page.locator("#send-error").isHidden();
  // Every input has a label, every button a name.
  const unlabelled = await page.evaluate(() => [
    ...[...document.querySelectorAll("input")].filter((i) => !i.labels?.length && !i.getAttribute("aria-label")).map((i) => i.id),
    ...[...document.querySelectorAll("button")].filter((b) => !b.textContent.trim() && !b.getAttribute("aria-label")).map((b) => b.outerHTML),
  ]);
  assert.deepEqual(unlabelled, []);
  const low = await page.evaluate(contrastInPage);
  assert.deepEqual(low, [], "text below 4.5:1");
  await page.screenshot({ path: artifacts + "keyboard.png" });
});
