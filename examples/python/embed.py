#!/usr/bin/env python3
"""Embed texts with the AkiDb.Queue worker and wait for the answer: request and reply over RabbitMQ.

    AMQP_URL=amqp://guest:guest@localhost:5672/ python3 embed.py "A man plays a guitar." "Someone performs music."

Prints one summary line (with --json, the whole result). Exit status: 0 completed, 1 failed, 2 no answer in time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from publish import build_request, connect, publish_request
from results import declare_results_queue, describe, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="+", help="texts to embed, one vector each")
    parser.add_argument("--id", dest="request_id", help="request id (default: a random one)")
    parser.add_argument("--model", help="catalogue model name (default: the worker's default)")
    parser.add_argument("--input-type", choices=["document", "query"])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON after the summary line")
    args = parser.parse_args()

    request_id = args.request_id or f"py-{uuid.uuid4().hex[:12]}"
    connection = connect()
    try:
        channel = connection.channel()
        # Bind before publishing: a fanout exchange drops results that no queue is bound for yet.
        queue = declare_results_queue(channel)
        channel.confirm_delivery()
        publish_request(channel, build_request(request_id, args.texts, args.model, args.input_type))

        # Other producers' results arrive here too (the exchanges are fanout); the request id picks ours.
        deadline = time.monotonic() + args.timeout
        for status, result in results(channel, queue, args.timeout):
            if result.get("requestId") == request_id:
                print(describe(status, result))
                if args.json:
                    print(json.dumps(result))
                return 0 if status == "completed" else 1
            if time.monotonic() > deadline:
                break
        print(f"{request_id} no answer within {args.timeout:g} s (is a worker consuming embed-requested?)", file=sys.stderr)
        return 2
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
