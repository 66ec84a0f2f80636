"""Seeds a server for schemathesis and prints its config: realistic values for
the path parameters, and for each list operation a cursor the server made
(a cursor is opaque: only the server's own are valid).

Usage: seed.py HOST:PORT ADMIN_KEY > schemathesis.toml
"""

import json
import sys
import urllib.request

addr, key = sys.argv[1:]


def call(method, path, body=None):
    req = urllib.request.Request(
        f"http://{addr}{path}",
        json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    return json.load(urllib.request.urlopen(req))


call("POST", "/v1/conversations", {"unique_name": "lobby", "participants": ["alice", "bob"]})
call("POST", "/v1/conversations", {"unique_name": "side", "participants": ["alice"]})
for body in ["hello", "again"]:
    call("POST", "/v1/conversations/lobby/messages", {"author": "alice", "body": body})


def cursor(page):
    return page["next_cursor"] or page["prev_cursor"]


# Operation id (the handler's name) -> a cursor of its own.
cursors = {
    "list_conversations": cursor(call("GET", "/v1/conversations?identity=alice&page_size=1")),
    "list_messages": cursor(call("GET", "/v1/conversations/lobby/messages?page_size=1")),
    "list_participants": cursor(call("GET", "/v1/conversations/lobby/participants?page_size=1")),
    "feed": cursor(call("GET", "/v1/messages?identity=alice&limit=1")),
    "user_conversations": cursor(call("GET", "/v1/users/alice/conversations?page_size=1")),
}

# The contract answers a size limit with 413 (too_large): a refusal too.
print("""[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]

[parameters]
"path.c" = "lobby"
"path.m" = "0"
"path.p" = "alice"
"path.identity" = "alice"
""")
for op, c in cursors.items():
    assert c, f"no cursor from {op}"
    print(f"""[[operations]]
include-operation-id = "{op}"
parameters = {{ "query.cursor" = "{c}" }}
""")
