#!/usr/bin/env python3
"""Lists through the Twilio face, as a backend using twilio's `list()` would:
page after page, following `meta.next_page_url`. What it lists it makes first
(REST, as the service): one conversation's messages (`--list messages`), or
conversations, each with alice as a participant (`--list conversations`, the
account's; `--list user-conversations`, alice's), or one conversation's
participants (`--list participants`), or conversations each with an SMS
participant bound to one address (`--list address-conversations`, that
address's), or to an address of its own (`--list address-lookups`: 100
addresses looked up, one page each, as a backend does for each SMS that
comes in), or the users the engine knows (`--list users`, each made a
participant of one conversation; `--list user-lookups`: 100 of them fetched
by their `US` sid), or conversations each with alice as a participant
(`--list sms-adds`: then 100 SMS participants added through the face, each
an address of its own, which the engine checks against every conversation).

    cargo run --release -- --bind 127.0.0.1:18080 --rate-limit 0 &
    python3 benches/twilio_list.py --url http://127.0.0.1:18080 --messages 10000
    python3 benches/twilio_list.py --url http://127.0.0.1:18080 --list conversations --count 2000

Standard library only. Prints how long the posts and the listing took."""

import argparse
import base64
import json
import time
import urllib.parse
import urllib.request

AUTH = "Basic " + base64.b64encode(b"AC0123456789abcdef0123456789abcdef:any").decode()


def call(method, url, body=None):
    headers = {"Authorization": AUTH}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method)) as r:
        text = r.read()
    return json.loads(text) if text else None


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--url", default="http://127.0.0.1:8080")
    args.add_argument("--list", default="messages",
                      choices=["messages", "conversations", "user-conversations", "participants",
                               "address-conversations", "address-lookups", "users",
                               "user-lookups", "sms-adds"])
    args.add_argument("--messages", type=int, default=10000, help="how many messages to list")
    args.add_argument("--count", type=int, default=2000,
                      help="how many conversations or participants to list")
    args.add_argument("--page-size", type=int, default=50)
    a = args.parse_args()
    twilio = f"{a.url}/twilio/conversations/v1"
    start = time.time()
    if a.list == "messages":
        conv = call("POST", f"{a.url}/v1/conversations", {"friendly_name": "history"})["id"]
        for i in range(a.messages):
            call("POST", f"{a.url}/v1/conversations/{conv}/messages", {"author": "bot", "body": f"message {i}"})
        made = f"{a.messages} messages"
        path = f"/Conversations/CH{conv.replace('-', '')}/Messages"
    elif a.list in ("participants", "users", "user-lookups"):
        conv = call("POST", f"{a.url}/v1/conversations", {"friendly_name": "crowd"})["id"]
        for i in range(a.count):
            call("POST", f"{a.url}/v1/conversations/{conv}/participants", {"identity": f"user{i}"})
        made = f"{a.count} participants"
        path = f"/Conversations/CH{conv.replace('-', '')}/Participants"
        if a.list != "participants":
            path = "/Users"
    elif a.list.startswith("address"):
        for i in range(a.count):
            conv = call("POST", f"{a.url}/v1/conversations", {"friendly_name": f"sms {i}"})["id"]
            address = "+15550001111" if a.list == "address-conversations" else f"+1555{i:07}"
            call("POST", f"{a.url}/v1/conversations/{conv}/participants",
                 {"proxy_address": "+15559990000", "address": address})
        made = f"{a.count} conversations"
        path = "/ParticipantConversations?Address=%2B15550001111"
    else:
        for i in range(a.count):
            call("POST", f"{a.url}/v1/conversations", {"friendly_name": f"room {i}", "participants": ["alice"]})
        made = f"{a.count} conversations"
        path = "/Conversations" if a.list == "conversations" else "/Users/alice/Conversations"
    print(f"made {made} in {time.time() - start:.1f} s")
    if a.list == "sms-adds":
        convs, url = [], f"{twilio}/Conversations?PageSize=1000"
        while url and len(convs) < 100:
            page = call("GET", url)
            convs += [c["sid"] for c in page["conversations"]]
            url = page["meta"]["next_page_url"]
        start = time.time()
        for i, sid in enumerate(convs[:100]):
            form = urllib.parse.urlencode({"MessagingBinding.Address": f"+1666{i:07}",
                                           "MessagingBinding.ProxyAddress": "+15559990000"})
            req = urllib.request.Request(f"{twilio}/Conversations/{sid}/Participants", form.encode(),
                                         {"Authorization": AUTH}, method="POST")
            urllib.request.urlopen(req).read()
        print(f"added 100 SMS participants among {a.count} conversations: {time.time() - start:.2f} s")
        return
    if a.list == "address-lookups":
        start, found = time.time(), 0
        for i in range(0, a.count, max(1, a.count // 100)):
            page = call("GET", f"{twilio}/ParticipantConversations?Address=%2B1555{i:07}")
            found += len(page["conversations"])
        print(f"looked up {found} addresses, one page each: {time.time() - start:.2f} s")
        return
    if a.list == "user-lookups":
        sids, url = [], f"{twilio}/Users?PageSize=1000"
        while url:
            page = call("GET", url)
            sids += [u["sid"] for u in page["users"]]
            url = page["meta"]["next_page_url"]
        start = time.time()
        for sid in sids[:: max(1, len(sids) // 100)][:100]:
            call("GET", f"{twilio}/Users/{sid}")
        print(f"fetched 100 of {len(sids)} users by sid: {time.time() - start:.2f} s")
        return
    url = f"{twilio}{path}{'&' if '?' in path else '?'}PageSize={a.page_size}"
    start, listed, pages = time.time(), 0, 0
    while url:
        page = call("GET", url)
        listed += len(page[page["meta"]["key"]])
        pages += 1
        url = page["meta"]["next_page_url"]
    print(f"listed {listed} {a.list} in {pages} pages of {a.page_size}: {time.time() - start:.2f} s")


if __name__ == "__main__":
    main()
