// Two users chat in headless Chromium (Debian's chromium, driven by
// playwright-core) against a running server at COLLOQUY_URL. Screenshots go to
// ./artifacts. Run with ./run.sh, which installs what is missing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { url, artifacts, launch, signIn as signInAt, relay } from "./harness.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
const signIn = (name) => signInAt(browser, name);

test("two users chat, type, react, read, and the inspector sees it", async () => {
  const room = `room-${process.pid}`;
  const alice = await signIn(`alice-${process.pid}`);
  const bob = await signIn(`bob-${process.pid}`);

  // Alice creates a group; bob joins it by name.
  await alice.getByPlaceholder("new group name").fill(room);
  await alice.getByRole("button", { name: "Create" }).click();
  await alice.locator("#title", { hasText: room }).waitFor();
  await bob.getByPlaceholder("new group name").fill(room);
  await bob.getByRole("button", { name: "Create" }).click();
  await bob.locator("#title", { hasText: room }).waitFor();

  // Presence: bob sees alice online.
  await bob.locator(`#people [aria-label="alice-${process.pid} online"]`).waitFor();

  // Typing shows up for bob while alice types.
  await alice.getByRole("textbox", { name: "Message", exact: true }).pressSequentially("hello b", { delay: 20 });
  await bob.locator("#typing", { hasText: "is typing" }).waitFor();
  await alice.getByRole("textbox", { name: "Message", exact: true }).pressSequentially("ob");
  await alice.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
  await bob.locator("#messages", { hasText: "hello bob" }).waitFor();
  await alice.screenshot({ path: artifacts + "alice-chat.png" });

  // Bob reacts; alice sees the reaction.
  await bob.locator("#messages li", { hasText: "hello bob" }).getByRole("button", { name: "👍" }).click();
  await alice.locator("#messages .reactions button", { hasText: "👍 1" }).waitFor();

  // Unread badge: bob looks elsewhere, alice writes, bob's badge shows 1 and
  // drops when he opens the room (which marks it read).
  await bob.getByPlaceholder("direct with…").fill(`carol-${process.pid}`);
  await bob.getByRole("button", { name: "Open" }).click();
  await bob.locator("#title", { hasText: `@ carol-${process.pid}` }).waitFor();
  await alice.getByRole("textbox", { name: "Message", exact: true }).fill("are you there?");
  await alice.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
  const roomButton = bob.locator("#conversations button", { hasText: room });
  await roomButton.locator(".badge", { hasText: "1" }).waitFor();
  await bob.screenshot({ path: artifacts + "bob-unread.png" });
  await roomButton.click();
  await bob.locator("#messages", { hasText: "are you there?" }).waitFor();
  await bob.waitForFunction((r) => {
    const b = [...document.querySelectorAll("#conversations button")].find((x) => x.textContent.includes(r));
    return b && !b.querySelector(".badge");
  }, room);
  // Read receipts: alice sees bob's name under the newest message he read,
  // and times on messages.
  await alice.locator("#messages li", { hasText: "are you there?" }).locator(".seen", { hasText: `Seen by bob-${process.pid}` }).waitFor();
  assert.match(await alice.locator("#messages li time").first().textContent(), /\d/);

  // The inspector shows the conversation.
  const inspector = await (await browser.newContext()).newPage();
  await inspector.goto(url + "/inspect");
  await inspector.locator("#conversations", { hasText: room }).waitFor();
  await inspector.screenshot({ path: artifacts + "inspector.png" });
  assert.ok(true);
});

test("a page on another origin imports client.js and uses the server", async () => {
  // A second local origin: a tiny HTTP server with one page.
  const { createServer } = await import("node:http");
  const me = `carol-${process.pid}`;
  const html = `<!doctype html><meta charset="utf-8"><title>elsewhere</title><p id="out">…</p>
<script type="module">
  import { connect } from "${url}/client.js";
  const out = document.getElementById("out");
  try {
    // No url given: the client talks to the server it was loaded from.
    const client = await connect({ identity: "${me}" });
    // REST from this origin too: a preflighted cross-origin POST.
    const r = await fetch("${url}/v1/conversations", {
      method: "POST",
      headers: { "content-type": "application/json", "x-identity": "${me}" },
      body: JSON.stringify({ friendly_name: "from elsewhere" }),
    });
    const conv = await r.json();
    const sent = await client.conversation(conv.id).send("hi from another origin");
    out.textContent = "sent #" + sent.index + " to " + conv.friendly_name;
  } catch (e) {
    out.textContent = "failed: " + e;
  }
</script>`;
  const elsewhere = createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${elsewhere.address().port}`;
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(origin + "/");
    await page.locator("#out", { hasText: "sent #0 to from elsewhere" }).waitFor({ timeout: 10000 });
    await page.screenshot({ path: artifacts + "other-origin.png" });
  } finally {
    elsewhere.close();
  }
});

test("the page says when the connection is cut and when it is back", async () => {
  const r = await relay(url);
  try {
    const page = await signInAt(browser, `dave-${process.pid}`, r.url);
    await page.locator("#connection", { hasText: "Online" }).waitFor();
    // Cut: every connection through the relay dies, new ones are refused.
    r.cut();
    await page.locator("#connection", { hasText: "Offline" }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: artifacts + "offline.png" });
    // Restore: the client's next attempt gets through.
    r.restore();
    await page.locator("#connection", { hasText: "Online" }).waitFor({ timeout: 10000 });
  } finally {
    r.close();
  }
});

test("a refused send keeps its text and says why", async () => {
  const me = `erin-${process.pid}`;
  const page = await signIn(me);
  await page.getByPlaceholder("new group name").fill(`refused-${process.pid}`);
  await page.getByRole("button", { name: "Create" }).click();
  await page.locator("#title", { hasText: `refused-${process.pid}` }).waitFor();
  const box = page.getByRole("textbox", { name: "Message", exact: true });
  const tooLong = "x".repeat(17 * 1024);
  await box.fill(tooLong);
  await box.press("Enter");
  await page.getByRole("alert").filter({ hasText: "Not sent" }).waitFor();
  assert.equal(await box.inputValue(), tooLong, "the text stays in the box");
  await page.screenshot({ path: artifacts + "refused-send.png" });
  await box.fill("short enough");
  await box.press("Enter");
  await page.locator("#messages", { hasText: "short enough" }).waitFor();
  assert.equal(await box.inputValue(), "");
  assert.equal(await page.locator("#send-error").isHidden(), true);
});

test("a direct conversation is named after the other person, with no Add form", async () => {
  const frank = `frank-${process.pid}`, gina = `gina-${process.pid}`;
  const f = await signIn(frank);
  const g = await signIn(gina);
  await f.getByPlaceholder("direct with…").fill(gina);
  await f.getByRole("button", { name: "Open" }).click();
  await f.locator("#title", { hasText: `@ ${gina}` }).waitFor();
  assert.equal(await f.locator("#add").isHidden(), true);
  await f.getByRole("textbox", { name: "Message", exact: true }).fill("hi gina");
  await f.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
  // Gina's list names it after frank.
  await g.locator("#conversations button", { hasText: `@ ${frank}` }).waitFor();
  await g.screenshot({ path: artifacts + "direct.png" });
});

test("a long link wraps and is clickable, and a phone shows the newest message", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const me = `hana-${process.pid}`;
  await page.goto(url + "/");
  await page.getByLabel("Your name").fill(me);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText(`Signed in as ${me}`).waitFor();
  await page.getByPlaceholder("new group name").fill(`links-${process.pid}`);
  await page.getByRole("button", { name: "Create" }).click();
  await page.locator("#title", { hasText: `links-${process.pid}` }).waitFor();
  const link = "https://example.com/" + "a".repeat(180);
  const box = page.getByRole("textbox", { name: "Message", exact: true });
  for (const text of ["one", "two", "three", `see ${link} now`]) {
    await box.fill(text);
    await box.press("Enter");
    await page.locator("#messages", { hasText: text.slice(0, 10) }).waitFor();
  }
  const a = page.locator(`#messages a[href="${link}"]`);
  await a.waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the page is ${wide} px wide on a 390 px screen`);
  const send = await page.getByRole("button", { name: "Send" }).boundingBox();
  assert.ok(send && send.x + send.width <= 390, "Send stays on screen");
  const last = await page.locator("#messages li").last().boundingBox();
  assert.ok(last && last.y >= 0 && last.y + last.height <= 844, "the newest message is on screen");
  await page.screenshot({ path: artifacts + "phone.png" });
});
