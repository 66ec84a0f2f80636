// colloquy browser client: a dependency-free ES module speaking the wire
// contract over WebSocket. Served by the dev server at /client.js.
//
//   import { connect } from "/client.js";
//   const alice = await connect({ identity: "alice" });
//   const lobby = alice.conversation("lobby");
//   const off = alice.on("messageAdded", (e) => console.log(e.data.body));
//   await lobby.send("hello");
//
// Requests carry an id and resolve with the answer's data or reject with an
// Error whose `code` is the contract's. When the socket drops, waiting requests
// reject with code "disconnected", the client reconnects with backoff
// (250 ms doubling to 5 s), emits "reconnected", and replays every conversation
// it has seen events of from its last seq (emitting "resync" for one the server
// no longer holds in full): nothing missed, nothing twice.
//
// Sending a message never loses it: `send` keeps it in `client.outbox` until
// the server answers. Offline, it waits and goes out after the reconnect with
// the same `client_id` (so a send whose answer was lost is not stored twice);
// a refusal rejects the promise with the server's code. "outbox" events say
// what is waiting.
//
// "What did I miss?" after a reconnect: wait for "caughtUp" (every missed event
// has been delivered again by then), and reload with `message.list` each
// conversation it names in `resynced`. Keep messages in a `MessageList`, which
// places them by index and never brings back a removed one, so a reload and
// the replay can arrive in any order.

export class ColloquyError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

// The server this module was loaded from: a page on another origin that
// imports http://host:port/client.js talks to host:port. Else (a bundled or
// local copy) the page's own host, else a local dev server.
export function defaultUrl(moduleUrl = import.meta.url, page = globalThis.location) {
  const ws = (u) => `${u.protocol === "https:" ? "wss" : "ws"}://${u.host}`;
  try {
    const m = new URL(moduleUrl);
    if (m.protocol === "http:" || m.protocol === "https:") return ws(m);
  } catch (_) {
    // Not a URL: fall through.
  }
  if (page && page.host) return ws(page);
  return "ws://127.0.0.1:8080";
}

/** Connects and resolves once the server said `ready`. */
export async function connect(options = {}) {
  const client = new Client(options);
  await client._open();
  return client;
}

export class Client {
  // encoding "compact": frames leave out null, [] and {} members (fewer
  // bytes on busy rooms); read such fields as `m.media ?? []`.
  constructor({ url, identity, token, requestTimeoutMs = 10000, reconnect = true, WebSocketImpl, encoding } = {}) {
    this.url = (url || defaultUrl()).replace(/^http/, "ws").replace(/\/$/, "");
    this.encoding = encoding;
    this.identity = identity;
    this.token = token;
    this.requestTimeoutMs = requestTimeoutMs;
    this.reconnect = reconnect;
    this.WebSocket = WebSocketImpl || globalThis.WebSocket;
    this.ready = null;
    this._nextId = 1;
    this._pending = new Map();
    this._listeners = new Map();
    this._seqs = new Map();
    this._outbox = [];
    this._pumping = false;
    this._closed = false;
    /** "connecting", "online", "offline" (waiting to retry) or "closed". */
    this.state = "connecting";
  }

  /** Moves to a connection state and tells "state" listeners (once per change). */
  _setState(state, extra = {}) {
    if (this.state === state && state !== "offline") return;
    this.state = state;
    this._emit("state", { event: "state", state, ...extra });
  }

  _socketUrl() {
    const q = new URLSearchParams();
    if (this.token) q.set("token", this.token);
    else if (this.identity) q.set("identity", this.identity);
    if (this.encoding) q.set("encoding", this.encoding);
    return `${this.url}/v1/ws?${q}`;
  }

  _open() {
    this._setState("connecting");
    return new Promise((resolve, reject) => {
      const ws = new this.WebSocket(this._socketUrl());
      let opened = false;
      ws.onmessage = (m) => {
        let frame;
        try { frame = JSON.parse(m.data); } catch { return; }
        if (!opened && frame.event === "ready") {
          opened = true;
          this.ready = frame.data;
          this.identity = frame.data.identity;
          this._setState("online");
          resolve();
          return;
        }
        this._dispatch(frame);
      };
      ws.onclose = () => {
        if (!opened) reject(new ColloquyError("unauthorized", "the server refused the connection"));
        else this._dropped();
      };
      ws.onerror = () => {};
      this._ws = ws;
    });
  }

  _dispatch(frame) {
    if (frame.event) {
      if (frame.conversation && typeof frame.seq === "number") {
        const last = this._seqs.get(frame.conversation) || 0;
        if (frame.seq <= last) return; // seen already (a replay overlapping live events)
        this._seqs.set(frame.conversation, frame.seq);
      }
      if (frame.event === "conversationRemoved") this._seqs.delete(frame.data.id);
      this._emit(frame.event, frame);
      return;
    }
    const p = this._pending.get(frame.re);
    if (!p) return;
    this._pending.delete(frame.re);
    clearTimeout(p.timer);
    if (frame.ok) p.resolve(frame.data);
    else p.reject(new ColloquyError(frame.error.code, frame.error.message));
  }

  _emit(name, event) {
    for (const key of [name, "*"]) {
      for (const fn of this._listeners.get(key) || []) {
        try { fn(event); } catch (e) { console.error(e); }
      }
    }
  }

  async _dropped() {
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ColloquyError("disconnected", "the connection dropped before the answer"));
    }
    this._pending.clear();
    if (this._closed) return;
    if (!this.reconnect) {
      this._setState("closed");
      this._failOutbox();
      return;
    }
    this._emit("disconnected", { event: "disconnected" });
    let backoff = 250;
    while (!this._closed) {
      this._setState("offline", { retryInMs: backoff });
      await new Promise((r) => setTimeout(r, backoff));
      if (this._closed) return;
      try {
        await this._open();
        break;
      } catch {
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    if (this._closed) return;
    this._emit("reconnected", { event: "reconnected" });
    const resynced = [];
    for (const [conversation, since_seq] of this._seqs) {
      try {
        const r = await this.request("events.replay", { conversation, since_seq });
        if (!r.recovered) {
          resynced.push(conversation);
          this._emit("resync", { event: "resync", conversation });
        }
      } catch (e) {
        // Dropped again: the next reconnect tries again. Refused (a server
        // restarted without its data no longer knows it): the UI must reload.
        if (e.code !== "disconnected" && e.code !== "timeout") {
          this._seqs.delete(conversation);
          resynced.push(conversation);
          this._emit("resync", { event: "resync", conversation });
        }
      }
    }
    this._emit("caughtUp", { event: "caughtUp", resynced });
    this._pump();
  }

  /** Messages sent but not yet answered, oldest first: `{conversation, body, client_id, state}`
   * where state is "sending" or "waiting" (for the connection). */
  get outbox() {
    return this._outbox.map((e) => ({ conversation: e.conversation, body: e.body, client_id: e.fields.client_id, state: e.state }));
  }

  _outboxChanged() { this._emit("outbox", { event: "outbox", items: this.outbox }); }

  /** Queues one message.send; resolves with its answer once the server has it. */
  _send(conversation, body, fields) {
    const client_id = fields.client_id ?? newClientId();
    return new Promise((resolve, reject) => {
      if (this._closed) return reject(new ColloquyError("closed", "the client is closed"));
      this._outbox.push({ conversation, body, fields: { ...fields, client_id }, state: "waiting", resolve, reject });
      this._outboxChanged();
      this._pump();
    });
  }

  /** Sends queued messages one at a time, in order, while online. */
  async _pump() {
    if (this._pumping) return;
    this._pumping = true;
    try {
      while (this._outbox.length && this.state === "online" && !this._closed) {
        const entry = this._outbox[0];
        entry.state = "sending";
        this._outboxChanged();
        let answer;
        try {
          answer = await this.request("message.send", { ...entry.fields, body: entry.body, conversation: entry.conversation });
        } catch (e) {
          if (e.code === "disconnected" || e.code === "timeout") {
            entry.state = "waiting"; // kept: it goes out again after the reconnect
            this._outboxChanged();
            return;
          }
          this._outbox.shift();
          this._outboxChanged();
          entry.reject(e);
          continue;
        }
        this._outbox.shift();
        this._outboxChanged();
        entry.resolve(answer);
      }
    } finally {
      this._pumping = false;
    }
  }

  _failOutbox() {
    const waiting = this._outbox.splice(0);
    for (const e of waiting) e.reject(new ColloquyError("closed", "the client closed before the server had it"));
    if (waiting.length) this._outboxChanged();
  }

  /** Subscribes to an event name (or "*"); returns the function that unsubscribes. */
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return () => this._listeners.get(name)?.delete(fn);
  }

  /** Sends one op; resolves with its answer's data. */
  request(op, fields = {}) {
    if (this._closed) return Promise.reject(new ColloquyError("closed", "the client is closed"));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new ColloquyError("timeout", `no answer within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      try {
        this._ws.send(JSON.stringify({ ...fields, id, op }));
      } catch {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new ColloquyError("disconnected", "not connected"));
      }
    });
  }

  conversation(ref) { return new Conversation(this, ref); }
  ping() { return this.request("ping"); }
  createConversation(fields = {}) { return this.request("conversation.create", fields); }
  direct(identity) { return this.request("conversation.direct", { identity }); }
  conversations(page_size) { return Page.fetch(this, (cursor) => ["conversation.list", { page_size, cursor }]); }
  feed({ limit, since, until } = {}) { return Page.fetch(this, (cursor) => ["message.feed", { limit, since, until, cursor }]); }
  async presence(identities) { return (await this.request("presence.get", { identities })).items; }
  updateUser(fields) { return this.request("user.update", fields); }
  removeReaction(reaction) { return this.request("reaction.remove", { reaction }); }

  /** Closes the connection; later requests reject with code "closed". */
  close() {
    this._closed = true;
    this._setState("closed");
    this._failOutbox();
    try { this._ws.close(1000); } catch { /* already closed */ }
  }
}

/** A fresh client_id: random, so two tabs never collide. */
function newClientId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/** The messages of one conversation as a UI shows them: ordered by index
 * whatever order pages and events arrive in, each at its newest version, and
 * a removed one never brought back by a page fetched before its removal. */
export class MessageList {
  constructor() {
    this._byIndex = new Map();
    this._removed = new Set();
  }
  /** Merges messages from a page or a reload; answers the indexes that changed. */
  merge(messages) { return messages.filter((m) => this._put(m)).map((m) => m.index); }
  /** Applies one event of the conversation; answers whether the list changed. */
  apply(event) {
    switch (event.event) {
      case "messageAdded": return this._put(event.data);
      case "messageUpdated": return this._put(event.data.message);
      case "messageRemoved":
        this._removed.add(event.data.index);
        return this._byIndex.delete(event.data.index);
      default: return false;
    }
  }
  _put(m) {
    if (this._removed.has(m.index)) return false;
    const old = this._byIndex.get(m.index);
    if (old && old.updated_at > m.updated_at) return false; // a stale copy
    this._byIndex.set(m.index, m);
    return true;
  }
  get(index) { return this._byIndex.get(index); }
  /** Every message held, oldest first. */
  get items() { return [...this._byIndex.values()].sort((a, b) => a.index - b.index); }
  /** The lowest index held, or null. */
  get oldest() { return this._byIndex.size ? Math.min(...this._byIndex.keys()) : null; }
  get size() { return this._byIndex.size; }
}

/** One page of a list, able to fetch its neighbours. */
export class Page {
  static async fetch(client, make, cursor) {
    const [op, fields] = make(cursor);
    const p = await client.request(op, fields);
    return new Page(client, make, p);
  }
  constructor(client, make, p) {
    Object.assign(this, { items: p.items, hasNext: p.has_next, hasPrev: p.has_prev });
    this._client = client;
    this._make = make;
    this._next = p.next_cursor;
    this._prev = p.prev_cursor;
  }
  nextPage() { return this._next ? Page.fetch(this._client, this._make, this._next) : Promise.resolve(null); }
  prevPage() { return this._prev ? Page.fetch(this._client, this._make, this._prev) : Promise.resolve(null); }
}

/** Typing for one conversation: call `keystroke()` on input; it refreshes the
 * indicator at most every 2 s while typing and lets it lapse when you stop. */
export class Typing {
  constructor(conversation) { this._c = conversation; this._last = 0; }
  keystroke() {
    const now = Date.now();
    if (now - this._last < 2000) return Promise.resolve();
    this._last = now;
    return this.start();
  }
  start() { return this._c._op("typing.start"); }
  stop() { this._last = 0; return this._c._op("typing.stop"); }
}

export class Conversation {
  constructor(client, ref) { this.client = client; this.ref = ref; }
  _op(op, fields = {}) { return this.client.request(op, { ...fields, conversation: this.ref }); }

  // get and join learn the conversation's id, so that `on` can filter by it
  // even when the handle was made with a unique name.
  async get() { const c = await this._op("conversation.get"); this.id = c.id; return c; }
  async join() { const c = await this._op("conversation.join"); this.id = c.id; return c; }
  leave() { return this._op("conversation.leave"); }
  update(fields) { return this._op("conversation.update", fields); }
  delete() { return this._op("conversation.delete"); }
  setNotificationLevel(level) { return this._op("conversation.set_notification_level", { level }); }

  /** Queued until the server has it (see `Client.outbox`); resolves `{id, index, created_at}`. */
  send(body, fields = {}) { return this.client._send(this.ref, body, fields); }
  message(message) { return this._op("message.get", { message }); }
  edit(message, body) { return this._op("message.edit", { message, body }); }
  deleteMessage(message) { return this._op("message.delete", { message }); }
  /** History: { page_size, anchor, direction, since, until }; resolves a Page. */
  messages(query = {}) { return Page.fetch(this.client, (cursor) => ["message.list", cursor ? { conversation: this.ref, cursor } : { ...query, conversation: this.ref }]); }
  async messageCount() { return (await this._op("message.count")).count; }
  async react(message, reaction) { return (await this._op("reaction.add", { message, reaction })).id; }

  participants(page_size) { return Page.fetch(this.client, (cursor) => ["participant.list", { conversation: this.ref, page_size, cursor }]); }
  addParticipant(identity, fields = {}) { return this._op("participant.add", { ...fields, identity }); }
  /** fields: { attributes, exclusive } (exclusive: refused while another open conversation has the pair). */
  addNonChat(proxy_address, address, fields = {}) { return this._op("participant.add_non_chat", { ...fields, proxy_address, address }); }
  participant(participant) { return this._op("participant.get", { participant }); }
  updateParticipant(participant, fields) { return this._op("participant.update", { ...fields, participant }); }
  removeParticipant(participant) { return this._op("participant.remove", { participant }); }
  async participantCount() { return (await this._op("participant.count")).count; }

  typing() { return this._typing || (this._typing = new Typing(this)); }

  async advanceLastRead(index) { return (await this._op("read.advance", { index })).unread_messages_count; }
  async setLastRead(index) { return (await this._op("read.set", { index })).unread_messages_count; }
  async setAllRead() { return (await this._op("read.all")).unread_messages_count; }
  async setAllUnread() { return (await this._op("read.none")).unread_messages_count; }
  async markRead(message) { return (await this._op("read.mark", message === undefined ? {} : { message })).unread_messages_count; }
  async unreadCount() { return (await this._op("unread.count")).unread_messages_count; }

  /** Events of this conversation only; returns the function that unsubscribes. */
  on(name, fn) {
    return this.client.on(name, (e) => {
      if (e.conversation === this.ref || e.conversation === this.id) fn(e);
    });
  }
}
