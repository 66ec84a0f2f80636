"""A backend written for Twilio Conversations, run against the colloquy dev
server instead of Twilio, with the official `twilio` helper library, unpatched.

    python3 -m venv target/twilio-example
    target/twilio-example/bin/pip install twilio==9.13.0
    target/twilio-example/bin/python examples/twilio/backend.py [http://127.0.0.1:8080]

It opens a "support" conversation, adds the chat user alice, and posts a
welcome message. Open http://127.0.0.1:8080/ as alice to see it arrive live,
answer there, and run it again: your answer comes back through the library.
"""

import os
import sys

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

server = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"

# Any credentials work in dev mode; with --twilio-account-sid/--twilio-auth-token
# (or --admin-key) the server checks them like Twilio does.
client = Client(
    os.environ.get("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
    os.environ.get("TWILIO_AUTH_TOKEN", "dev"),
)
# The one line that points the library at colloquy instead of Twilio.
client.conversations.base_url = f"{server}/twilio/conversations"
conversations = client.conversations.v1.conversations

try:
    support = conversations.create(friendly_name="Support", unique_name="support")
except TwilioRestException as e:
    if e.code != 50353:  # the unique name is taken: it exists from a run before
        raise
    support = conversations("support").fetch()

try:
    support.participants.create(identity="alice")
except TwilioRestException as e:
    if e.code != 50433:  # alice is already a participant
        raise

support.messages.create(author="support-bot", body="Hello alice, how can we help?")

print(f"conversation {support.sid} ({support.unique_name}):")
for m in support.messages.list(order="asc"):
    print(f"  #{m.index} {m.author}: {m.body}")
