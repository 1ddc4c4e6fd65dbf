#!/usr/bin/env python3
"""Print one line per AkiDb.Queue result (embed-completed and embed-failed), as they arrive.

    AMQP_URL=amqp://guest:guest@localhost:5672/ python3 results.py [--count N] [--timeout SECONDS]

The queue is exclusive and server-named: it exists only while this script runs, so it sees results published
after it started. For results that must survive a consumer restart, bind a durable named queue instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator

import pika

DEFAULT_URL = "amqp://guest:guest@localhost:5672/"
RESULT_EXCHANGES = ("embed-completed", "embed-failed")


def connect() -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(os.environ.get("AMQP_URL", DEFAULT_URL)))


def declare_results_queue(channel: pika.adapters.blocking_connection.BlockingChannel) -> str:
    """A private queue bound to both result exchanges. The exchanges are declared exactly as the worker declares
    them (durable fanout), so it does not matter which side starts first."""
    queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
    for exchange in RESULT_EXCHANGES:
        channel.exchange_declare(exchange=exchange, exchange_type="fanout", durable=True)
        channel.queue_bind(queue=queue, exchange=exchange)
    return queue


def results(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str, timeout: float | None) -> Iterator[tuple[str, dict[str, object]]]:
    """Yields (status, result) until nothing arrives for `timeout` seconds (forever when None)."""
    for method, _properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=timeout):
        if method is None:
            return
        status = "completed" if method.exchange == "embed-completed" else "failed"
        yield status, json.loads(body)


def describe(status: str, result: dict[str, object]) -> str:
    if status == "completed":
        embeddings = result.get("embeddings") or []
        return (f"{result.get('requestId')} completed vectors={len(embeddings)} dimensions={result.get('dimensions')} "
                f"model={result.get('model')} queued_ms={result.get('queuedMs')} inference_ms={result.get('inferenceMs')}")
    return f"{result.get('requestId')} failed code={result.get('code')} message={json.dumps(result.get('message'))}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="exit after this many results")
    parser.add_argument("--timeout", type=float, help="exit with status 2 when no result arrives for this many seconds")
    args = parser.parse_args()

    connection = connect()
    try:
        channel = connection.channel()
        queue = declare_results_queue(channel)
        print(f"listening on {queue}", file=sys.stderr, flush=True)
        seen = 0
        for status, result in results(channel, queue, args.timeout):
            print(describe(status, result), flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                return 0
        return 2 if args.timeout is not None else 0
    except KeyboardInterrupt:
        return 0
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
