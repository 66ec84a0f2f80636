"""A backend written against the official `twilio` helper library, unpatched,
pointed at a colloquy dev server both ways TWILIO.md §1 gives, while a
WebSocket client checks that every change arrives live, and that its own
message comes back through the library.

    python scenario.py ADDR ACCOUNT_SID AUTH_TOKEN

Run by tests/twilio/run.sh (from .ci/run); exits non-zero on the first failure.
"""

import datetime
import json
import queue
import re
import sys
import threading
import uuid

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from websockets.sync.client import connect

ADDR, SID, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
MOUNT = f"http://{ADDR}/twilio/conversations"


class Redirect(TwilioHttpClient):
    """The `http_client` way: maps Twilio's Conversations host (any edge or
    region labels) to the emulator, without touching library code."""

    HOST = re.compile(r"^https://conversations(\.[a-z0-9-]+)*\.twilio\.com")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, self.HOST.sub(MOUNT, url), *args, **kwargs)


def client(way, token=TOKEN):
    if way == "base_url":
        c = Client(SID, token)
        c.conversations.base_url = MOUNT
        return c
    return Client(SID, token, http_client=Redirect())


def uuid_of(sid):
    """The colloquy id a CH/MB/IM sid stands for."""
    return str(uuid.UUID(sid[2:]))


class Socket:
    """A WebSocket user that collects every frame on a thread."""

    def __init__(self, identity):
        self.ws = connect(f"ws://{ADDR}/v1/ws?identity={identity}")
        self.frames = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready")

    def _read(self):
        try:
            for raw in self.ws:
                self.frames.put(json.loads(raw))
        except Exception:
            pass

    def expect(self, event, where=lambda d: True):
        """Waits for `event` whose data satisfies `where`, skipping others."""
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
        seen = []
        while datetime.datetime.now() < deadline:
            try:
                f = self.frames.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(f.get("event") or f.get("re"))
            if f.get("event") == event and where(f.get("data", {})):
                return f["data"]
        raise AssertionError(f"no {event} on the socket; saw {seen}")

    def request(self, op, **fields):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "op": op, **fields}))
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
        while datetime.datetime.now() < deadline:
            try:
                f = self.frames.get(timeout=0.1)
            except queue.Empty:
                continue
            if f.get("re") == self.next_id:
                assert f["ok"], f
                return f["data"]
        raise AssertionError(f"no answer to {op}")


def refused(status, code, call):
    """Asserts that `call` raises Twilio's error with this status and code."""
    try:
        call()
    except TwilioRestException as e:
        assert e.status == status and e.code == code, f"{e.status}/{e.code}: {e.msg}"
        return
    raise AssertionError(f"expected {status}/{code}")


def scenario(way):
    tag = way.replace("_", "-")
    c = client(way)
    v1 = c.conversations.v1
    me = f"ws-{tag}"
    ws = Socket(me)

    # Conversations: create, fetch by sid and unique name, update, list.
    conv = v1.conversations.create(
        friendly_name="Office", unique_name=f"office-{tag}", attributes=json.dumps({"floor": 3})
    )
    assert conv.sid.startswith("CH") and len(conv.sid) == 34, conv.sid
    assert json.loads(conv.attributes) == {"floor": 3}
    assert conv.state == "active" and conv.account_sid == SID
    assert isinstance(conv.date_created, datetime.datetime), conv.date_created
    assert v1.conversations(conv.sid).fetch().unique_name == f"office-{tag}"
    assert v1.conversations(f"office-{tag}").fetch().sid == conv.sid
    assert v1.conversations(conv.sid).update(friendly_name="HQ").friendly_name == "HQ"
    assert conv.sid in [x.sid for x in v1.conversations.list()]
    # Filtered by creation date, newest first.
    dated = v1.conversations.list(start_date="2000-01-01", end_date="2999-12-31")
    assert conv.sid in [x.sid for x in dated]
    stamps = [x.date_created for x in dated]
    assert stamps == sorted(stamps, reverse=True), stamps
    assert v1.conversations.list(end_date="2000-01-01") == []

    # A chat participant: the socket learns it was added.
    here = v1.conversations(conv.sid)
    p = here.participants.create(identity=me)
    assert p.sid.startswith("MB") and p.identity == me and p.messaging_binding is None
    ws.expect("conversationAdded", lambda d: d["id"] == uuid_of(conv.sid))
    refused(409, 50433, lambda: here.participants.create(identity=me))

    # An SMS participant.
    sms = here.participants.create(
        messaging_binding_address="+15550001111", messaging_binding_proxy_address="+15550002222"
    )
    assert sms.identity is None and sms.messaging_binding["address"] == "+15550001111"
    refused(
        409,
        50416,
        lambda: here.participants.create(
            messaging_binding_address="+15550001111", messaging_binding_proxy_address="+15550002222"
        ),
    )
    assert {x.sid for x in here.participants.list()} >= {p.sid, sms.sid}
    # The pair routes SMS, so one open conversation holds it: another is told which.
    elsewhere = v1.conversations.create(friendly_name="Elsewhere")
    try:
        elsewhere.participants.create(
            messaging_binding_address="+15550001111", messaging_binding_proxy_address="+15550002222"
        )
        raise AssertionError("a second binding of the pair was taken")
    except TwilioRestException as e:
        assert (e.status, e.code) == (409, 50416) and conv.sid in e.msg, e.msg
    elsewhere.delete()

    # Roles; a role change is a participantUpdated.
    roles = {r.friendly_name: r for r in v1.roles.list()}
    assert set(roles) == {"channel admin", "channel user", "service admin", "service user"}
    admin = roles["channel admin"].sid
    assert v1.roles(admin).fetch().type == "conversation"
    assert p.role_sid == roles["channel user"].sid
    assert here.participants(p.sid).update(role_sid=admin).role_sid == admin
    ws.expect("participantUpdated", lambda d: "role" in d["update_reasons"])

    # Messages, each live on the socket with the same index and body.
    sent = []
    for i in range(5):
        m = here.messages.create(author="backend", body=f"m{i}", attributes=json.dumps({"n": i}))
        live = ws.expect("messageAdded", lambda d, m=m: d["id"] == uuid_of(m.sid))
        assert live["index"] == m.index and live["body"] == f"m{i}" and live["attributes"] == {"n": i}
        sent.append(m)
    assert [m.body for m in here.messages.list(page_size=2)] == [f"m{i}" for i in range(5)]
    assert [m.body for m in here.messages.list(order="desc", page_size=2)] == [f"m{i}" for i in reversed(range(5))]
    first = here.messages.page(page_size=2)
    second = first.next_page()
    assert len(list(first)) == 2 and second is not None and len(list(second)) == 2
    assert here.messages(sent[0].sid).fetch().body == "m0"

    edited = here.messages(sent[1].sid).update(body="m1 edited")
    assert edited.body == "m1 edited"
    ws.expect("messageUpdated", lambda d: d["message"]["body"] == "m1 edited" and "body" in d["update_reasons"])
    here.messages(sent[2].sid).delete()
    ws.expect("messageRemoved", lambda d: d["id"] == uuid_of(sent[2].sid))

    # The socket's own message comes back through the library.
    own = ws.request("message.send", conversation=uuid_of(conv.sid), body="from the socket")
    back = [m for m in here.messages.list() if m.body == "from the socket"]
    assert len(back) == 1 and back[0].index == own["index"] and back[0].author == me, back
    assert back[0].participant_sid == p.sid

    # Users and their conversations: exact unread, a read horizon shared with
    # the participant, notification level.
    u = v1.users.create(identity=f"user-{tag}", friendly_name="Una")
    assert u.sid.startswith("US") and u.friendly_name == "Una"
    refused(409, 50201, lambda: v1.users.create(identity=f"user-{tag}"))
    assert v1.users(u.sid).fetch().identity == f"user-{tag}"
    assert v1.users(f"user-{tag}").update(friendly_name="Una B").friendly_name == "Una B"
    mine = v1.users(me).fetch()
    assert mine.is_online is True
    assert u.sid in [x.sid for x in v1.users.list()]
    uc = v1.users(mine.sid).user_conversations(conv.sid).fetch()
    assert uc.unread_messages_count == 4, uc.unread_messages_count  # m0, m1, m3, m4
    read = v1.users(mine.sid).user_conversations(conv.sid).update(
        last_read_message_index=sent[3].index, notification_level="muted"
    )
    assert read.last_read_message_index == sent[3].index and read.unread_messages_count == 1
    assert read.notification_level == "muted"
    assert here.participants(p.sid).fetch().last_read_message_index == sent[3].index
    assert [x.conversation_sid for x in v1.users(me).user_conversations.list()] == [conv.sid]

    # The same tree under the default service; any other service is 404.
    services = v1.services.list()
    assert len(services) == 1
    svc = v1.services(services[0].sid)
    assert svc.conversations(conv.sid).fetch().sid == conv.sid
    assert svc.conversations(conv.sid).messages(sent[0].sid).fetch().body == "m0"
    refused(404, 20404, lambda: v1.services("IS" + "0" * 32).conversations(conv.sid).fetch())

    # Errors, each leaving nothing behind.
    refused(404, 20404, lambda: v1.conversations("CH" + "0" * 32).fetch())
    refused(409, 50353, lambda: v1.conversations.create(unique_name=f"office-{tag}"))
    refused(400, 50304, lambda: v1.conversations.create(attributes="{not json"))
    refused(400, 50503, lambda: here.messages.create(author="backend"))
    refused(404, 20404, lambda: here.participants("MB" + "0" * 32).fetch())
    refused(404, 20404, lambda: v1.users("nobody-" + tag).fetch())
    refused(404, 20404, lambda: v1.roles("RL" + "0" * 32).fetch())
    refused(501, 501, lambda: v1.roles.create(friendly_name="x", type="conversation", permission=["sendMessage"]))
    closed = v1.conversations.create(friendly_name="closed", state="closed")
    assert closed.state == "closed"
    refused(409, 50377, lambda: v1.conversations(closed.sid).messages.create(author="backend", body="late"))

    # Removing the participant and deleting the conversation.
    here.participants(p.sid).delete()
    ws.expect("conversationRemoved", lambda d: d["id"] == uuid_of(conv.sid) and d["reason"] == "removed")
    here.delete()
    refused(404, 20404, lambda: v1.conversations(conv.sid).fetch())
    ws.ws.close()
    print(f"twilio scenario ({way}): ok")


def wrong_credentials():
    for way in ("base_url", "http_client"):
        refused(401, 20003, lambda: client(way, token="wrong").conversations.v1.conversations.create())
    print("twilio scenario: wrong credentials refused both ways")


if __name__ == "__main__":
    for way in ("base_url", "http_client"):
        scenario(way)
    if TOKEN != "any":
        wrong_credentials()
