#!/usr/bin/env python3
"""A user's `message.feed` (`GET /v1/messages`), page by page back through
`prev_cursor`, as an app's inbox reads it. What it reads it makes first (REST,
as the service): `--conversations` conversations with bob in each, and
`--messages` messages in each, one conversation after another, or with
`--interleave` a message to each in turn, round after round. Then it reads
`--pages` pages back, and forward again through `next_cursor` from the
oldest of them.

    cargo run --release -- --bind 127.0.0.1:18080 --rate-limit 0 &
    python3 benches/feed.py --url http://127.0.0.1:18080 --conversations 1000 --messages 5

Standard library only. Prints how long the posts and the pages took."""

import argparse
import json
import time
import urllib.parse
import urllib.request


def call(url, method="GET", body=None):
    headers, data = {}, None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method)) as r:
        return json.loads(r.read())


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--url", default="http://127.0.0.1:8080")
    args.add_argument("--conversations", type=int, default=1000)
    args.add_argument("--messages", type=int, default=5, help="messages in each conversation")
    args.add_argument("--interleave", action="store_true",
                      help="send round after round, a message to each conversation")
    args.add_argument("--pages", type=int, default=50)
    args.add_argument("--limit", type=int, default=50)
    args.add_argument("--repeat", type=int, default=1,
                      help="read the pages this many times; print the median")
    a = args.parse_args()
    start = time.time()
    convs = []
    post = lambda c, i: call(f"{a.url}/v1/conversations/{c}/messages", "POST",
                             {"author": "bob", "body": f"message {i}"})
    for n in range(a.conversations):
        body = {"friendly_name": f"room {n}", "participants": ["bob"]}
        convs.append(call(f"{a.url}/v1/conversations", "POST", body)["id"])
        for i in range(0 if a.interleave else a.messages):
            post(convs[-1], i)
    for i in range(a.messages if a.interleave else 0):
        for c in convs:
            post(c, i)
    print(f"made {a.conversations} conversations of {a.messages} messages in "
          f"{time.time() - start:.1f} s")
    back, forth = [], []
    for _ in range(a.repeat):
        start, read, query = time.time(), 0, {"identity": "bob", "limit": a.limit}
        for pages in range(1, a.pages + 1):
            page = call(f"{a.url}/v1/messages?" + urllib.parse.urlencode(query))
            read += len(page["items"])
            if not page["prev_cursor"]:
                break
            query = {"identity": "bob", "cursor": page["prev_cursor"]}
        back.append(time.time() - start)
        start, forward = time.time(), 0
        while page["next_cursor"]:
            query = {"identity": "bob", "cursor": page["next_cursor"]}
            page = call(f"{a.url}/v1/messages?" + urllib.parse.urlencode(query))
            forward += 1
        forth.append(time.time() - start)
    median = lambda times: sorted(times)[len(times) // 2]
    print(f"{pages} pages back, {read} messages, in {median(back):.3f} s (the median of "
          f"{a.repeat}): {median(back) / pages * 1000:.2f} ms a page")
    print(f"{forward} pages forward in {median(forth):.3f} s: "
          f"{median(forth) / max(forward, 1) * 1000:.2f} ms a page")


if __name__ == "__main__":
    main()
