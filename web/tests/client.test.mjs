// Unit tests of /client.js against a real server (COLLOQUY_URL), under Node's
// test runner: `node --experimental-websocket --test web/tests/`. `cargo test`
// runs them against a fresh TestServer (tests/js_client.rs).
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { connect, Client, ColloquyError, MessageList, defaultUrl } from "../client.js";

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
  // An SMS participant, exclusive: another open conversation is refused it.
  const sms = await conv.addNonChat("+15550009999", a, { exclusive: true, attributes: { x: 1 } });
  assert.deepEqual([sms.kind, sms.attributes], ["non_chat", { x: 1 }]);
  const other = alice.conversation((await alice.createConversation({})).id);
  await assert.rejects(other.addNonChat("+15550009999", a, { exclusive: true }),
    (e) => e.code === "conflict" && e.message.includes(c.id));
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
    constructor(url) { this.url = url; this.sent = []; made.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    answer(frame, reply) { this.onmessage?.({ data: JSON.stringify({ re: frame.id, ...reply }) }); }
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

const settle = async () => { for (let i = 0; i < 20; i++) await Promise.resolve(); };

test("the outbox keeps a message until the server answers, across a reconnect, with its client_id", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { made, FakeSocket } = fakeSockets();
    const client = new Client({ url: "ws://fake", identity: "alice", WebSocketImpl: FakeSocket });
    const opened = client._open();
    made[0].ready();
    await opened;
    const sends = (s) => s.sent.filter((f) => f.op === "message.send");

    // Answered: resolved, and the outbox is empty again.
    const first = client.conversation("c").send("one");
    await settle();
    const [f1] = sends(made[0]);
    assert.equal(f1.body, "one");
    assert.equal(typeof f1.client_id, "string");
    made[0].answer(f1, { ok: true, data: { id: "m1", index: 0 } });
    assert.equal((await first).index, 0);
    assert.deepEqual(client.outbox, []);

    // The connection drops before the answer: the message waits, then goes
    // out again on the new socket with the same client_id, after the replay.
    let settled = false;
    const second = client.conversation("c").send("two").then((a) => { settled = true; return a; });
    await settle();
    const [, f2] = sends(made[0]);
    made[0].drop();
    await settle();
    assert.equal(settled, false, "not rejected: still queued");
    assert.deepEqual(client.outbox.map((o) => [o.body, o.state]), [["two", "waiting"]]);
    // Sent while offline: queued behind it, in order.
    const third = client.conversation("c").send("three");
    await settle();
    const caughtUp = [];
    client.on("caughtUp", (e) => caughtUp.push(e));
    mock.timers.tick(250);
    await settle();
    made[1].ready();
    await settle();
    assert.equal(caughtUp.length, 1);
    const [r2] = sends(made[1]);
    assert.equal(r2.body, "two");
    assert.equal(r2.client_id, f2.client_id, "a resend is recognised by the server");
    made[1].answer(r2, { ok: true, data: { id: "m2", index: 1 } });
    await settle();
    assert.equal((await second).index, 1);
    const [, r3] = sends(made[1]);
    assert.equal(r3.body, "three");

    // A refusal rejects with the server's code and leaves the outbox.
    made[1].answer(r3, { ok: false, error: { code: "too_large", message: "body too long" } });
    await assert.rejects(third, (e) => e instanceof ColloquyError && e.code === "too_large");
    assert.deepEqual(client.outbox, []);

    // Closing rejects what is still waiting.
    const fourth = client.conversation("c").send("four");
    client.close();
    await assert.rejects(fourth, (e) => e.code === "closed");
  } finally {
    mock.timers.reset();
  }
});

test("a message list places messages by index, whatever order pages and events come in", () => {
  const m = (index, body, updated_at = 1) => ({ index, body, updated_at });
  const list = new MessageList();
  // The replay's live events arrive before the reload that races them...
  assert.equal(list.apply({ event: "messageAdded", data: m(7, "seven") }), true);
  assert.equal(list.apply({ event: "messageAdded", data: m(8, "eight") }), true);
  // ...which brings older messages and an older copy of 7.
  assert.deepEqual(list.merge([m(4, "four"), m(5, "five"), m(6, "six"), m(7, "seven")]), [4, 5, 6, 7]);
  assert.deepEqual(list.items.map((x) => x.index), [4, 5, 6, 7, 8]);
  // An edit wins over a stale copy, in either order.
  list.apply({ event: "messageUpdated", data: { message: m(5, "five edited", 2), update_reasons: ["body"] } });
  assert.deepEqual(list.merge([m(5, "five", 1)]), []);
  assert.equal(list.get(5).body, "five edited");
  // A removed message is not brought back by a page fetched before its removal.
  assert.equal(list.apply({ event: "messageRemoved", data: { id: "x", index: 6 } }), true);
  list.merge([m(6, "six")]);
  assert.deepEqual(list.items.map((x) => x.index), [4, 5, 7, 8]);
  // Older pages go in front; the oldest index says where the next page ends.
  list.merge([m(1, "one"), m(2, "two")]);
  assert.equal(list.oldest, 1);
  assert.deepEqual(list.items.map((x) => x.body), ["one", "two", "four", "five edited", "seven", "eight"]);
  assert.equal(list.apply({ event: "typingStarted", data: {} }), false);
});

test("encoding compact: the same events without null and empty members", async () => {
  const [a, b] = [user("a"), user("b")];
  const alice = await connect({ url, identity: a });
  const bob = await connect({ url, identity: b, encoding: "compact" });
  const added = nextEvent(bob, "conversationAdded");
  const c = await alice.createConversation({ participants: [b] });
  await added;
  const got = nextEvent(bob, "messageAdded");
  await alice.conversation(c.id).send("small");
  const e = await got;
  assert.equal(e.data.body, "small");
  assert.equal(e.seq, 1);
  assert.equal(e.data.media, undefined, "[] is left out");
  assert.equal(e.data.reply_to, undefined, "null is left out");
  const m = await bob.conversation(c.id).message(0);
  assert.equal(m.body, "small");
  assert.equal(m.reactions, undefined);
  alice.close();
  bob.close();
});
