// Type declarations for /client.js (colloquy's browser client).

export type Id = string;
export type Millis = number;
export type MessageRef = string | number;

export interface Conversation {
  id: Id; unique_name: string | null; friendly_name: string | null; avatar_url: string | null;
  attributes: unknown; metadata: Record<string, string | number | boolean>;
  created_by: string | null; direct: boolean; created_at: Millis; updated_at: Millis;
  last_message_at: Millis | null; last_message: { index: number; created_at: Millis } | null;
  state: { current: "active" | "inactive" | "closed"; updated_at: Millis };
  participants_count: number; messages_count: number;
  status: "joined" | "not_participating"; notification_level: "default" | "muted";
  last_read_message_index: number | null; unread_messages_count: number;
}

export interface Participant {
  id: Id; identity: string | null; conversation_id: Id; role: "admin" | "member";
  kind: "chat" | "non_chat"; attributes: unknown; joined_at: Millis; updated_at: Millis;
  last_read_message_index: number | null; last_read_at: Millis | null;
  messaging_binding: { proxy_address: string; address: string } | null;
}

export interface Reaction { id: Id; reaction: string; identity: string; created_at: Millis }
export interface Media { id: Id; content_type: string; filename: string | null; size: number }

export interface Message {
  id: Id; index: number; conversation_id: Id; author: string | null; body: string | null;
  attributes: unknown; metadata: Record<string, string | number | boolean>; details: unknown;
  type: "message"; subtype: "chat" | "log";
  kind: "participant_joined" | "participant_left" | "conversation_closed" | null;
  media: Media[]; reply_to: { id: Id; index: number } | null; reactions: Reaction[];
  client_id: string | null; created_at: Millis; updated_at: Millis; edited: boolean; ts: number;
}

export interface User {
  identity: string; friendly_name: string | null; avatar_url: string | null;
  attributes: unknown; online: boolean; last_seen_at: Millis | null;
}

export interface Event<T = any> { event: string; conversation?: Id; seq?: number; data: T }

export type EventName =
  | "conversationAdded" | "conversationUpdated" | "conversationRemoved"
  | "participantJoined" | "participantLeft" | "participantUpdated"
  | "messageAdded" | "messageUpdated" | "messageRemoved"
  | "reactionAdded" | "reactionRemoved" | "typingStarted" | "typingEnded" | "userStatus"
  | "disconnected" | "reconnected" | "resync" | "caughtUp" | "outbox" | "state" | "*";

/** The connection: "connecting", "online", "offline" (waiting `retryInMs`
 * before the next attempt) or "closed". Sent as a "state" event on each change. */
export type ConnectionState = "connecting" | "online" | "offline" | "closed";
export interface StateEvent { event: "state"; state: ConnectionState; retryInMs?: number }

/** After a reconnect, once every missed event was delivered again; reload the
 * conversations named in `resynced` (the server no longer held all they missed). */
export interface CaughtUpEvent { event: "caughtUp"; resynced: Id[] }

/** A message `send` holds until the server answers it. */
export interface Outgoing { conversation: string; body: string; client_id: string; state: "sending" | "waiting" }
export interface OutboxEvent { event: "outbox"; items: Outgoing[] }

/** One conversation's messages by index, whatever order pages and events come in. */
export class MessageList {
  /** Merges a page or a reload; answers the indexes that changed. */
  merge(messages: Message[]): number[];
  /** Applies messageAdded/messageUpdated/messageRemoved; answers whether it changed anything. */
  apply(event: Event): boolean;
  get(index: number): Message | undefined;
  readonly items: Message[];
  readonly oldest: number | null;
  readonly size: number;
}

export class ColloquyError extends Error {
  /** The contract's code, or "timeout", "disconnected", "closed". */
  code: string;
}

export interface ConnectOptions {
  /** ws(s):// or http(s):// base; defaults to the server this module was
   * loaded from (so `import … from "http://host:port/client.js"` talks to
   * host:port from any page), else the page's host. */
  url?: string; identity?: string; token?: string;
  requestTimeoutMs?: number; reconnect?: boolean; WebSocketImpl?: typeof WebSocket;
  /** "compact": frames without null, [] and {} members (read them as absent). Default "v1". */
  encoding?: "v1" | "compact";
}

export function connect(options?: ConnectOptions): Promise<Client>;

/** The default server URL: the module's own origin when it was loaded over
 * http(s), else the page's host, else ws://127.0.0.1:8080. */
export function defaultUrl(moduleUrl?: string, page?: { protocol: string; host: string }): string;

export class Page<T> {
  items: T[]; hasNext: boolean; hasPrev: boolean;
  nextPage(): Promise<Page<T> | null>;
  prevPage(): Promise<Page<T> | null>;
}

export class Typing {
  /** Call on every keystroke: refreshes the indicator at most every 2 s. */
  keystroke(): Promise<void>; start(): Promise<void>; stop(): Promise<void>;
}

export interface MessageQuery {
  page_size?: number; anchor?: number; direction?: "backwards" | "forward"; since?: Millis; until?: Millis;
}

export class Conversation {
  ref: string; id?: Id;
  get(): Promise<Conversation>; join(): Promise<Conversation>; leave(): Promise<{}>;
  update(fields: Partial<{ friendly_name: string | null; unique_name: string | null; attributes: unknown;
    metadata: Record<string, unknown>; avatar_url: string | null; state: "active" | "inactive" | "closed" }>): Promise<Conversation>;
  delete(): Promise<{}>; setNotificationLevel(level: "default" | "muted"): Promise<Conversation>;
  /** Kept in `Client.outbox` and retried across reconnects (same client_id) until
   * the server answers; rejects only when the server refuses it or the client closes. */
  send(body: string, fields?: { attributes?: unknown; metadata?: Record<string, unknown>; details?: unknown;
    media?: { content_type: string; filename?: string; data: string }[]; reply_to?: MessageRef; client_id?: string }):
    Promise<{ id: Id; index: number; created_at: Millis }>;
  message(message: MessageRef): Promise<Message>;
  edit(message: MessageRef, body: string): Promise<Message>;
  deleteMessage(message: MessageRef): Promise<{}>;
  messages(query?: MessageQuery): Promise<Page<Message>>;
  messageCount(): Promise<number>;
  react(message: MessageRef, reaction: string): Promise<Id>;
  participants(pageSize?: number): Promise<Page<Participant>>;
  addParticipant(identity: string, fields?: { attributes?: unknown; role?: "admin" | "member" }): Promise<Participant>;
  addNonChat(proxyAddress: string, address: string, fields?: { attributes?: unknown; exclusive?: boolean }): Promise<Participant>;
  participant(participant: string): Promise<Participant>;
  updateParticipant(participant: string, fields: { attributes?: unknown; role?: "admin" | "member" }): Promise<Participant>;
  removeParticipant(participant: string): Promise<{}>;
  participantCount(): Promise<number>;
  typing(): Typing;
  advanceLastRead(index: number): Promise<number>; setLastRead(index: number | null): Promise<number>;
  setAllRead(): Promise<number>; setAllUnread(): Promise<number>;
  markRead(message?: MessageRef): Promise<number>; unreadCount(): Promise<number>;
  on(name: EventName, fn: (e: Event) => void): () => void;
}

export class Client {
  identity: string; ready: { session_id: Id; identity: string; heartbeat_ms: number; limits: Record<string, number> };
  /** The connection's state now; "state" events announce each change. */
  state: ConnectionState;
  /** Messages sent and not yet answered, oldest first. */
  readonly outbox: Outgoing[];
  on(name: "state", fn: (e: StateEvent) => void): () => void;
  on(name: "caughtUp", fn: (e: CaughtUpEvent) => void): () => void;
  on(name: "outbox", fn: (e: OutboxEvent) => void): () => void;
  on(name: EventName, fn: (e: Event) => void): () => void;
  request(op: string, fields?: Record<string, unknown>): Promise<any>;
  conversation(ref: string): Conversation;
  ping(): Promise<{ pong: true }>;
  createConversation(fields?: { friendly_name?: string; unique_name?: string; attributes?: unknown;
    metadata?: Record<string, unknown>; avatar_url?: string; participants?: string[] }): Promise<Conversation>;
  direct(identity: string): Promise<Conversation>;
  conversations(pageSize?: number): Promise<Page<Conversation>>;
  feed(query?: { limit?: number; since?: Millis; until?: Millis }): Promise<Page<Message>>;
  presence(identities: string[]): Promise<User[]>;
  updateUser(fields: { friendly_name?: string | null; avatar_url?: string | null; attributes?: unknown; new?: boolean }): Promise<User>;
  removeReaction(reaction: Id): Promise<{}>;
  close(): void;
}
