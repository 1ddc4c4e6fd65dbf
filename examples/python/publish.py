#!/usr/bin/env python3
"""Publish texts to the AkiDb.Queue worker as one EmbedRequested message and print its request id.

    AMQP_URL=amqp://guest:guest@localhost:5672/ python3 publish.py "First text." "Second text."

Results are published to the embed-completed / embed-failed exchanges; run results.py first to see them
(a fanout delivers only to queues bound at the time), or use embed.py, which does both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

import pika
from pika.exceptions import UnroutableError

DEFAULT_URL = "amqp://guest:guest@localhost:5672/"
REQUEST_QUEUE = "embed-requested"


def connect() -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(os.environ.get("AMQP_URL", DEFAULT_URL)))


def build_request(request_id: str, texts: list[str], model: str | None = None, input_type: str | None = None) -> dict[str, object]:
    request: dict[str, object] = {"requestId": request_id, "texts": texts}
    if model:
        request["model"] = model
    if input_type:
        request["inputType"] = input_type
    return request


def publish_request(channel: pika.adapters.blocking_connection.BlockingChannel, request: dict[str, object]) -> None:
    """Publishes through the default exchange and returns once the broker has confirmed the message.

    The channel must be in confirm mode. mandatory=True turns "no such queue" into an error instead of a silent drop:
    the worker declares embed-requested when it first starts, with arguments a producer should not have to repeat.
    """
    try:
        channel.basic_publish(
            exchange="",
            routing_key=REQUEST_QUEUE,
            body=json.dumps(request).encode("utf-8"),
            properties=pika.BasicProperties(content_type="application/json", delivery_mode=2),
            mandatory=True,
        )
    except UnroutableError:
        raise SystemExit(f"queue {REQUEST_QUEUE} does not exist on this broker/vhost: start the worker once, it declares it") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="+", help="texts to embed, one vector each")
    parser.add_argument("--id", dest="request_id", help="request id (default: a random one)")
    parser.add_argument("--model", help="catalogue model name (default: the worker's default)")
    parser.add_argument("--input-type", choices=["document", "query"])
    args = parser.parse_args()

    request_id = args.request_id or f"py-{uuid.uuid4().hex[:12]}"
    connection = connect()
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        publish_request(channel, build_request(request_id, args.texts, args.model, args.input_type))
    finally:
        connection.close()
    print(request_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
