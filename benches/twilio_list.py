#!/usr/bin/env python3
"""Lists one conversation's messages through the Twilio face, as a backend
using twilio's `messages.list()` would: page after page, following
`meta.next_page_url`. Posts the messages first (REST, as the service).

    cargo run --release -- --bind 127.0.0.1:18080 --rate-limit 0 &
    python3 benches/twilio_list.py --url http://127.0.0.1:18080 --messages 10000

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
    args.add_argument("--messages", type=int, default=10000)
    args.add_argument("--page-size", type=int, default=50)
    a = args.parse_args()
    conv = call("POST", f"{a.url}/v1/conversations", {"friendly_name": "history"})["id"]
    start = time.time()
    for i in range(a.messages):
        call("POST", f"{a.url}/v1/conversations/{conv}/messages", {"author": "bot", "body": f"message {i}"})
    print(f"posted {a.messages} messages in {time.time() - start:.1f} s")
    sid = "CH" + conv.replace("-", "")
    url = f"{a.url}/twilio/conversations/v1/Conversations/{sid}/Messages?PageSize={a.page_size}"
    start, listed, pages = time.time(), 0, 0
    while url:
        page = call("GET", url)
        listed += len(page["messages"])
        pages += 1
        url = page["meta"]["next_page_url"]
    print(f"listed {listed} messages in {pages} pages of {a.page_size}: {time.time() - start:.2f} s")


if __name__ == "__main__":
    main()
