// Unit tests of /client.js against a real server (COLLOQUY_URL), under Node's
// test runner: `node --experimental-websocket --test web/tests/`. `cargo test`
// runs them against a fresh TestServer (tests/js_client.rs).
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { connect, Client, ColloquyError, defaultUrl } from "../client.js";

const url = process.env.COLLOQUY_URL;
assert.ok(url, "COLLOQUY_URL must name a running server");
let n = 0;
const user = (name) => `${name}-${process.pid}-${n++}`;
const nextEvent = (client, name, ms = 2000) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => { off(); reject(new Error(`no ${name} within ${ms} ms`)); }, ms);
    const off = client.on(name, (e) => { clearTimeout(t); off(); resolve(e); });
  });

test("the default server is the one the module came from", () => {
  const page = { protocol: "http:", host: "127.0.0.1:5173" };
  assert.equal(defaultUrl("http://127.0.0.1:8080/client.js", page), "ws://127.0.0.1:8080");
  assert.equal(defaultUrl("https://chat.example.com/client.js", page), "wss://chat.example.com");
  assert.equal(defaultUrl("file:///app/client.js", page), "ws://127.0.0.1:5173");
  assert.equal(defaultUrl("file:///app/client.js", undefined), "ws://127.0.0.1:8080");
});

test("connect, ready and ping", async () => {
  const alice = await connect({ url, identity: user("alice") });
  assert.equal(typeof alice.ready.session_id, "string");
  assert.deepEqual(await alice.ping(), { pong: true });
  alice.close();
  await assert.rejects(alice.ping(), (e) => e.code === "closed");
});

test("errors carry the contract's code", async () => {
  const alice = await connect({ url, identity: user("alice") });
  await assert.rejects(alice.conversation("no-such").get(), (e) => e instanceof ColloquyError && e.code === "not_found");
  await assert.rejects(alice.request("warp.drive"), (e) => e.code === "bad_request");
  alice.close();
});

test("messages, events, history pages, edit, delete, reactions", async () => {
  const [a, b] = [user("a"), user("b")];
  const alice = await connect({ url, identity: a });
  const bob = await connect({ url, identity: b });
  const added = nextEvent(bob, "conversationAdded"); // listen before acting
  const c = await alice.createConversation({ friendly_name: "js", participants: [b] });
  await added;
  const conv = alice.conversation(c.id);
  const got = nextEvent(bob, "messageAdded");
  await conv.send("hello", { client_id: "k1" });
  const e = await got;
  assert.equal(e.data.body, "hello");
  assert.equal(e.seq, 1);
  for (let i = 0; i < 4; i++) await conv.send(`m${i}`);
  const page = await conv.messages({ page_size: 2 });
  assert.deepEqual(page.items.map((m) => m.index), [3, 4]);
  const older = await page.prevPage();
  assert.deepEqual(older.items.map((m) => m.index), [1, 2]);
  assert.equal((await conv.edit(0, "hi")).edited, true);
  const r = await bob.conversation(c.id).react(0, "👍");
  assert.equal((await conv.message(0)).reactions[0].id, r);
  await bob.removeReaction(r);
  await conv.deleteMessage(4);
  assert.equal(await conv.messageCount(), 4);
  alice.close(); bob.close();
});

test("read state and unread counts", async () => {
  const [a, b] = [user("a"), user("b")];
  const alice = await connect({ url, identity: a });
  const bob = await connect({ url, identity: b });
  const c = await alice.createConversation({ participants: [b] });
  for (let i = 0; i < 3; i++) await alice.conversation(c.id).send(`m${i}`);
  const conv = bob.conversation(c.id);
  assert.equal(await conv.unreadCount(), 3);
  assert.equal(await conv.advanceLastRead(0), 2);
  assert.equal(await conv.setLastRead(null), 3);
  assert.equal(await conv.setAllRead(), 0);
  assert.equal(await conv.setAllUnread(), 3);
  assert.equal(await conv.markRead(), 0);
  alice.close(); bob.close();
});

test("participants, typing with keystroke refresh, presence", async () => {
  const [a, b, c2] = [user("a"), user("b"), user("c")];
  const alice = await connect({ url, identity: a });
  const bob = await connect({ url, identity: b });
  const c = await alice.createConversation({ participants: [b] });
  const conv = alice.conversation(c.id);
  await conv.addParticipant(c2);
  assert.equal(await conv.participantCount(), 3);
  const people = await conv.participants(2);
  assert.equal(people.items.length, 2);
  assert.equal((await people.nextPage()).items.length, 1);
  await conv.removeParticipant(c2);
  const started = nextEvent(bob, "typingStarted");
  await conv.typing().keystroke();
  await conv.typing().keystroke(); // within 2 s: no second request
  assert.equal((await started).data.identity, a);
  const ended = nextEvent(bob, "typingEnded");
  await conv.typing().stop();
  await ended;
  const [p] = await alice.presence([b]);
  assert.equal(p.online, true);
  alice.close(); bob.close();
});

test("unsubscribe stops delivery", async () => {
  const [a, b] = [user("a"), user("b")];
  const alice = await connect({ url, identity: a });
  const bob = await connect({ url, identity: b });
  const c = await alice.createConversation({ participants: [b] });
  let seen = 0;
  const off = bob.conversation(c.id).on("messageAdded", () => seen++);
  await alice.conversation(c.id).send("one");
  await new Promise((r) => setTimeout(r, 100));
  off();
  await alice.conversation(c.id).send("two");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen, 1);
  alice.close(); bob.close();
});

test("reconnects and replays what was missed", async () => {
  const [a, b] = [user("a"), user("b")];
  const alice = await connect({ url, identity: a });
  const bob = await connect({ url, identity: b });
  const c = await alice.createConversation({ participants: [b] });
  const first = nextEvent(bob, "messageAdded");
  await alice.conversation(c.id).send("before");
  await first;
  const seqs = [];
  bob.on("messageAdded", (e) => seqs.push(e.seq));
  const back = nextEvent(bob, "reconnected", 5000);
  bob._ws.close(); // the socket drops under the client
  await alice.conversation(c.id).send("while away 1");
  await alice.conversation(c.id).send("while away 2");
  await back;
  for (let i = 0; i < 50 && seqs.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seqs, [2, 3]);
  alice.close(); bob.close();
});

// A WebSocket the test drives: each instance says `ready` when told to, and
// can be dropped. No server, no real time.
function fakeSockets() {
  const made = [];
  class FakeSocket {
    constructor(url) { this.url = url; made.push(this); }
    send() {}
    close() { this.onclose?.(); }
    ready() { this.onmessage?.({ data: JSON.stringify({ event: "ready", data: { identity: "alice", session_id: "s" } }) }); }
    drop() { this.onclose?.(); }
  }
  return { made, FakeSocket };
}

test("connection state: connecting, online, offline with backoff, online again, closed", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { made, FakeSocket } = fakeSockets();
    const client = new Client({ url: "ws://fake", identity: "alice", WebSocketImpl: FakeSocket });
    const states = [];
    client.on("state", (e) => states.push(e.retryInMs ? `${e.state} ${e.retryInMs}` : e.state));
    const opened = client._open();
    made[0].ready();
    await opened;
    assert.equal(client.state, "online");
    made[0].drop();
    await Promise.resolve();
    assert.equal(client.state, "offline");
    // The first retry fails: the wait doubles.
    mock.timers.tick(250);
    await Promise.resolve();
    made[1].drop();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    mock.timers.tick(500);
    await Promise.resolve();
    made[2].ready();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(client.state, "online");
    client.close();
    assert.deepEqual(states, ["online", "offline 250", "connecting", "offline 500", "connecting", "online", "closed"]);
  } finally {
    mock.timers.reset();
  }
});
