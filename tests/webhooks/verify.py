#!/usr/bin/env python3
"""Cross-checks keyward's webhook signatures with the Standard Webhooks
reference package for Python (`pip install standardwebhooks`).

Reads one JSON object on standard input:

    {"secret": "whsec_...",
     "headers": {"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...},
     "body": "<the exact body sent>",
     "vector": {"secret": ..., "id": ..., "timestamp": <unix seconds>,
                "body": ..., "signature": ...}}          (optional)

and verifies the message as a receiver would (signature and timestamp
freshness), and the vector's signature with the package's own signer.

Exit codes: 0 verified; 1 refused; 3 the package is not importable. Callers
(src/webhooks/signing.rs, tests/api/webhooks.rs) run it only where build.rs
found the package, so any exit but 0 fails them.
"""

import json
import sys
from datetime import datetime, timezone

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
except ImportError as err:
    print(f"standardwebhooks is not importable: {err}", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    given = json.load(sys.stdin)
    try:
        Webhook(given["secret"]).verify(given["body"].encode("utf-8"), given["headers"])
    except WebhookVerificationError as err:
        print(f"message refused: {err}")
        return 1

    vector = given.get("vector")
    if vector is not None:
        at = datetime.fromtimestamp(vector["timestamp"], tz=timezone.utc)
        expected = Webhook(vector["secret"]).sign(vector["id"], at, vector["body"].encode("utf-8"))
        if expected != vector["signature"]:
            print(f"vector: the package signs {expected}, keyward {vector['signature']}")
            return 1

    print("verified by standardwebhooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
