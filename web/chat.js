// The chat page (/), on /client.js. What it promises a person: nothing typed is
// lost (a message waits in "Not yet sent" until the server has it, and a
// refusal puts the text back in the box with the reason), the connection's
// state is always on screen, history scrolls back to the first message, and
// after a reconnect or a server restart the page shows what the server holds.
import { connect, MessageList } from "/client.js";

const $ = (id) => document.getElementById(id);
let client, current = null, replyTo = null;
let list = new MessageList(), shown = new Map(), hasOlder = false, loadingOlder = false;
let typists = new Set(), people = [];

// Who you are and where you were, kept across reloads (this browser only).
const saved = {
  get: (k) => { try { return localStorage.getItem(`colloquy.${k}`); } catch { return null; } },
  set: (k, v) => { try { if (v == null) localStorage.removeItem(`colloquy.${k}`); else localStorage.setItem(`colloquy.${k}`, v); } catch { /* private mode */ } },
};

// Every action's failure is shown, never swallowed.
function showError(text) { $("error").textContent = text; $("error").classList.remove("hidden"); }
async function attempt(what, fn) {
  try {
    const r = await fn();
    $("error").classList.add("hidden");
    return r;
  } catch (e) {
    showError(`${what}: ${e.message || e.code}`);
    return undefined;
  }
}

// A direct conversation is named after the other person (looked up once).
const peers = new Map();
async function displayName(c) {
  if (!c.direct) return c.friendly_name || c.unique_name || c.id.slice(0, 8);
  if (!peers.has(c.id)) {
    const ps = await client.conversation(c.id).participants(10);
    const other = ps.items.map((p) => p.identity).find((i) => i && i !== client.identity);
    peers.set(c.id, other || client.identity);
  }
  return "@ " + peers.get(c.id);
}

async function refreshList() {
  const page = await client.conversations(100);
  const ul = $("conversations"); ul.replaceChildren();
  for (const c of page.items) {
    const b = document.createElement("button");
    b.textContent = await displayName(c);
    b.dataset.id = c.id;
    if (current && current.id === c.id) b.setAttribute("aria-current", "true");
    if (c.unread_messages_count > 0) {
      const badge = document.createElement("span");
      badge.className = "badge"; badge.textContent = c.unread_messages_count;
      badge.setAttribute("aria-label", `${c.unread_messages_count} unread`);
      b.append(badge);
    }
    b.onclick = () => attempt("Could not open it", () => open(c.id));
    const item = document.createElement("li"); item.append(b); ul.append(item);
  }
}

// Text with its http(s) links made clickable, built from text nodes (never HTML).
function linkify(el, text) {
  let last = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    el.append(text.slice(last, match.index));
    const a = document.createElement("a");
    a.href = match[0]; a.textContent = match[0]; a.target = "_blank"; a.rel = "noopener noreferrer";
    el.append(a);
    last = match.index + match[0].length;
  }
  el.append(text.slice(last));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function clock(ms) {
  const t = el("time", "meta", new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  t.dateTime = new Date(ms).toISOString();
  t.title = new Date(ms).toLocaleString();
  return t;
}

function excerpt(text, n = 40) { return text.length > n ? text.slice(0, n) + "…" : text; }

function renderMessage(m) {
  const e = el("li", m.subtype === "log" ? "log" : "");
  e.dataset.index = m.index;
  if (m.subtype === "log") {
    const who = m.details?.identity || "someone";
    e.textContent = m.kind === "participant_joined" ? `${who} joined` : m.kind === "participant_left" ? `${who} left` : `closed by ${who}`;
    return e;
  }
  const head = el("div");
  head.append(el("strong", "", m.author), " ", clock(m.created_at));
  if (m.edited) head.append(el("span", "meta", " (edited)"));
  if (m.reply_to) {
    const to = list.get(m.reply_to.index);
    const words = to ? `${to.author}: “${excerpt(to.body ?? "an attachment")}”` : "an earlier message";
    e.append(el("span", "quote", `↪ ${words}`));
  }
  const body = el("div", "body");
  if (m.body != null) linkify(body, m.body); else body.textContent = `${m.media.length} attachment(s)`;
  const reactions = el("div", "reactions");
  const counts = {};
  for (const r of m.reactions) (counts[r.reaction] ||= []).push(r);
  for (const [emoji, rs] of Object.entries(counts)) {
    const b = el("button", "", `${emoji} ${rs.length}`);
    const mine = rs.find((r) => r.identity === client.identity);
    b.setAttribute("aria-pressed", mine ? "true" : "false");
    b.setAttribute("aria-label", `${emoji} ${rs.length}: ${rs.map((r) => r.identity).join(", ")}`);
    b.onclick = () => attempt("Could not react", () => mine ? client.removeReaction(mine.id) : current.react(m.index, emoji));
    reactions.append(b);
  }
  const tools = el("span", "tools");
  const tool = (label, name, fn) => {
    const b = el("button", "", label); b.type = "button"; b.setAttribute("aria-label", name); b.onclick = fn; tools.append(b);
  };
  tool("👍", "👍", () => attempt("Could not react", () => current.react(m.index, "👍")));
  tool("reply", `reply to ${m.author}`, () => {
    replyTo = m.index;
    $("reply-text").textContent = `${m.author}: “${excerpt(m.body ?? "an attachment")}”`;
    $("replying").classList.remove("hidden"); $("text").focus();
  });
  if (m.author === client.identity) {
    tool("edit", "edit", () => { const b = prompt("Edit message", m.body); if (b) attempt("Could not edit", () => current.edit(m.index, b)); });
    tool("delete", "delete", () => attempt("Could not delete", () => current.deleteMessage(m.index)));
  }
  head.append(" ", tools);
  e.append(head, body, reactions, el("div", "seen"));
  return e;
}

// Puts message `index` (as the list holds it) at its place by index.
function place(index) {
  const m = list.get(index), old = shown.get(index);
  if (!m) { old?.remove(); shown.delete(index); return; }
  const e = renderMessage(m);
  if (old) old.replaceWith(e);
  else {
    const after = [...shown.keys()].filter((i) => i > index).sort((a, b) => a - b)[0];
    $("messages").insertBefore(e, after === undefined ? null : shown.get(after));
  }
  shown.set(index, e);
}

function nearBottom() { const h = $("history"); return h.scrollHeight - h.scrollTop - h.clientHeight < 80; }
function toBottom() { const h = $("history"); h.scrollTop = h.scrollHeight; }

// Read receipts: each other participant's name under the newest message its
// horizon reached.
function renderReceipts() {
  const seen = new Map();
  const indexes = [...shown.keys()].filter((i) => list.get(i)?.subtype !== "log").sort((a, b) => a - b);
  for (const p of people) {
    if (!p.identity || p.identity === client.identity || p.last_read_message_index == null) continue;
    const at = indexes.filter((i) => i <= p.last_read_message_index).pop();
    if (at !== undefined) (seen.get(at) || seen.set(at, []).get(at)).push(p.identity);
  }
  for (const [i, e] of shown) {
    const names = seen.get(i);
    const s = e.querySelector(".seen");
    if (s) s.textContent = names ? `Seen by ${names.join(", ")}` : "";
  }
}

async function renderPeople() {
  if (!current) return;
  const page = await current.participants(100);
  people = page.items;
  const names = people.map((p) => p.identity).filter(Boolean);
  const users = await client.presence(names);
  const span = $("people"); span.replaceChildren();
  for (const u of users) {
    const s = el("span");
    const dot = el("span", `dot${u.online ? " online" : ""}`); dot.setAttribute("aria-hidden", "true");
    s.append(dot, `${u.identity} `);
    s.setAttribute("aria-label", `${u.identity} ${u.online ? "online" : "offline"}`);
    span.append(s);
  }
  renderReceipts();
}

function renderOutgoing() {
  const ol = $("outgoing"); ol.replaceChildren();
  if (!current) return;
  for (const o of client.outbox) {
    if (o.conversation !== current.ref) continue;
    const item = el("li");
    item.append(el("strong", "", client.identity), " ", el("span", "meta", o.state === "sending" ? "sending…" : "waiting for the connection"));
    item.append(el("div", "body", o.body));
    ol.append(item);
  }
}

async function loadOlder() {
  if (!current || !hasOlder || loadingOlder || list.oldest === null || list.oldest === 0) return;
  loadingOlder = true;
  try {
    const conv = current;
    const page = await current.messages({ page_size: 50, anchor: list.oldest - 1 });
    if (conv !== current) return;
    hasOlder = page.hasPrev;
    const h = $("history"), before = h.scrollHeight;
    list.merge(page.items).forEach(place);
    h.scrollTop += h.scrollHeight - before; // keep what was on screen in place
    $("older").classList.toggle("hidden", !hasOlder);
    renderReceipts();
  } finally {
    loadingOlder = false;
  }
}

async function open(id) {
  const next = client.conversation(id);
  const c = await next.get();
  current = next;
  saved.set("open", c.id);
  list = new MessageList(); shown = new Map(); typists = new Set(); people = [];
  $("typing").textContent = "";
  $("messages").replaceChildren();
  $("title").textContent = await displayName(c);
  $("composer").classList.remove("hidden");
  // The cursor goes to the box as soon as it shows: type while history loads.
  $("text").focus();
  // A direct conversation has exactly its two users: no Add form.
  $("add").classList.toggle("hidden", c.direct);
  const page = await current.messages({ page_size: 50 });
  hasOlder = page.hasPrev;
  $("older").classList.toggle("hidden", !hasOlder);
  list.merge(page.items).forEach(place);
  toBottom();
  renderOutgoing();
  await current.markRead();
  await Promise.all([renderPeople(), refreshList()]);
}

// The conversation shown is gone (deleted, or a restart without its data).
function closeView(why) {
  current = null; saved.set("open", null);
  list = new MessageList(); shown = new Map(); people = [];
  $("messages").replaceChildren(); $("outgoing").replaceChildren(); $("people").replaceChildren();
  $("title").textContent = "No conversation";
  $("composer").classList.add("hidden"); $("add").classList.add("hidden"); $("older").classList.add("hidden");
  if (why) showError(why);
}

function showTyping() {
  const names = [...typists];
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

function listen() {
  const here = (e) => current && e.conversation === current.id;
  const apply = (e) => {
    if (!here(e) || !list.apply(e)) return;
    const index = e.event === "messageUpdated" ? e.data.message.index : e.data.index;
    const follow = nearBottom();
    place(index);
    if (follow) toBottom();
    renderReceipts();
  };
  client.on("messageAdded", async (e) => {
    apply(e);
    if (here(e)) { typists.delete(e.data.author); showTyping(); await current.markRead(); }
    refreshList();
  });
  client.on("messageUpdated", apply);
  client.on("messageRemoved", apply);
  client.on("typingStarted", (e) => { if (here(e)) { typists.add(e.data.identity); showTyping(); } });
  client.on("typingEnded", (e) => { if (here(e)) { typists.delete(e.data.identity); showTyping(); } });
  for (const name of ["participantUpdated", "participantJoined", "participantLeft"]) {
    client.on(name, (e) => { if (here(e)) renderPeople(); });
  }
  client.on("userStatus", () => renderPeople());
  client.on("conversationAdded", () => refreshList());
  client.on("conversationRemoved", (e) => {
    if (current && e.data.id === current.id) closeView(e.data.reason === "deleted" ? "This conversation was deleted." : null);
    refreshList();
  });
  client.on("outbox", renderOutgoing);
  // Back after a drop: missed events were replayed; what the server no longer
  // holds in full (or at all, after a restart) is read again.
  client.on("caughtUp", async (e) => {
    await attempt("Could not refresh", refreshList);
    if (!current) return;
    // Asked again even when nothing was replayed: a server restarted without
    // its data no longer has it.
    const still = await current.get().then(() => true, (err) => err.code === "disconnected");
    if (!still) { closeView("The conversation you had open is no longer on the server."); return; }
    if (!e.resynced.includes(current.id)) { await attempt("Could not refresh", renderPeople); return; }
    await attempt("Could not reload the conversation", () => open(current.id));
  });
  client.on("state", (e) => {
    const words = {
      online: "Online",
      connecting: "Reconnecting…",
      offline: `Offline: retrying in ${Math.ceil((e.retryInMs || 0) / 1000)} s`,
      closed: "Disconnected",
    };
    $("connection").textContent = words[e.state] || e.state;
    $("connection").className = e.state;
    // Presence seen before the drop is stale until the server says otherwise.
    if (e.state !== "online") for (const d of document.querySelectorAll("#people .dot")) d.classList.remove("online");
  });
}

async function signIn(identity, token) {
  try {
    client = await connect(token ? { token } : { identity });
  } catch (e) {
    showError(`Could not connect: ${e.message}`);
    return;
  }
  saved.set("identity", client.identity); saved.set("token", token || null);
  $("me").textContent = client.identity;
  $("login").classList.add("hidden"); $("token-box").classList.add("hidden"); $("app").classList.remove("hidden");
  $("error").classList.add("hidden");
  listen();
  await attempt("Could not list your conversations", refreshList);
  const last = saved.get("open");
  if (last) await attempt("Could not reopen your conversation", () => open(last));
}

$("login").onsubmit = (ev) => {
  ev.preventDefault();
  const identity = $("identity").value.trim(), token = $("token").value.trim();
  if (!identity && !token) { showError("Enter your name (or a token)."); return; }
  signIn(identity, token);
};
$("sign-out").onclick = () => {
  saved.set("identity", null); saved.set("token", null); saved.set("open", null);
  client?.close();
  location.reload();
};
$("new-group").onsubmit = (ev) => {
  ev.preventDefault();
  const name = $("group-name").value.trim();
  attempt(`Could not open “${name}”`, async () => {
    let c;
    try { c = await client.conversation(name).join(); }
    catch (e) {
      if (e.code !== "not_found") throw e;
      c = await client.createConversation({ friendly_name: name, unique_name: name });
    }
    $("group-name").value = "";
    await open(c.id);
  });
};
$("new-direct").onsubmit = (ev) => {
  ev.preventDefault();
  attempt("Could not open the direct conversation", async () => {
    const c = await client.direct($("direct-name").value.trim());
    $("direct-name").value = "";
    await open(c.id);
  });
};
$("add").onsubmit = (ev) => {
  ev.preventDefault();
  attempt("Could not add", async () => { await current.addParticipant($("add-name").value.trim()); $("add-name").value = ""; });
};
// The box empties at once; the message shows under "Not yet sent" until the
// server has it (across reconnects, with one client_id). A refusal puts the
// text back and says why.
$("composer").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("text").value; if (!text.trim()) return;
  const fields = replyTo != null ? { reply_to: replyTo } : {};
  $("text").value = "";
  replyTo = null; $("replying").classList.add("hidden");
  current.send(text, fields).then(
    () => { $("send-error").classList.add("hidden"); toBottom(); },
    (e) => {
      if ($("text").value === "") $("text").value = text;
      $("send-error").textContent = `Not sent: ${e.message || e.code}. Your text is back in the box.`;
      $("send-error").classList.remove("hidden");
    },
  );
  toBottom();
};
$("text").oninput = () => { if (current) current.typing().keystroke().catch(() => {}); };
$("cancel-reply").onclick = () => { replyTo = null; $("replying").classList.add("hidden"); };
$("older").onclick = () => attempt("Could not load older messages", loadOlder);
$("history").addEventListener("scroll", () => { if ($("history").scrollTop < 40) attempt("Could not load older messages", loadOlder); });

// ?token= (or ?identity=) signs in at once; else whoever signed in here last.
const query = new URLSearchParams(location.search);
const token = query.get("token") || saved.get("token");
const identity = query.get("identity") || saved.get("identity");
if (token) $("token").value = token;
if (identity) $("identity").value = identity;
if (token || identity) signIn(identity, token);
