#!/usr/bin/env python3
"""Embed texts with the standard RabbitMQ RPC pattern: reply_to + correlation_id, the reply comes back to the caller.

    AMQP_URL=amqp://guest:guest@localhost:5672/ python3 rpc.py "A man plays a guitar."            # exclusive reply queue
    AMQP_URL=amqp://guest:guest@localhost:5672/ python3 rpc.py --direct-reply-to "A man plays a guitar."

The worker publishes the result (completed or failed) to its exchanges as always, and also to the request's reply_to,
with the request's correlation_id. Prints one summary line and the correlation id. Exit status: 0 completed,
1 failed, 2 no reply in time.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

import pika
from pika.exceptions import UnroutableError

from publish import REQUEST_QUEUE, build_request, connect
from results import describe

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


def reply_queue(channel: pika.adapters.blocking_connection.BlockingChannel, direct: bool) -> str:
    """Direct reply-to needs no queue at all (the broker routes the reply to this channel); otherwise a private,
    server-named queue that goes away with the connection."""
    if direct:
        return DIRECT_REPLY_TO
    return channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue


def call(channel: pika.adapters.blocking_connection.BlockingChannel, request: dict[str, object], direct: bool,
         timeout: float) -> tuple[str, dict[str, object], str] | None:
    """Publishes the request with reply_to and a fresh correlation_id; returns (status, result, correlation_id) or None."""
    queue = reply_queue(channel, direct)
    correlation_id = uuid.uuid4().hex
    reply: list[tuple[str, dict[str, object], str]] = []

    def on_reply(_channel, _method, properties: pika.BasicProperties, body: bytes) -> None:
        # A late reply to an earlier call can arrive here too: the correlation id picks ours.
        if properties.correlation_id == correlation_id:
            result = json.loads(body)
            status = "failed" if "code" in result else "completed"
            reply.append((status, result, properties.correlation_id))

    # Direct reply-to requires consuming (auto-ack) before publishing, on the channel that publishes.
    channel.basic_consume(queue=queue, on_message_callback=on_reply, auto_ack=True)
    channel.confirm_delivery()
    try:
        channel.basic_publish(
            exchange="",
            routing_key=REQUEST_QUEUE,
            body=json.dumps(request).encode("utf-8"),
            properties=pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                            reply_to=queue, correlation_id=correlation_id),
            mandatory=True,
        )
    except UnroutableError:
        raise SystemExit(f"queue {REQUEST_QUEUE} does not exist on this broker/vhost: start the worker once, it declares it") from None

    channel.connection.process_data_events(time_limit=0)
    waited = 0.0
    while not reply and waited < timeout:
        channel.connection.process_data_events(time_limit=0.5)
        waited += 0.5
    return reply[0] if reply else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="+", help="texts to embed, one vector each")
    parser.add_argument("--id", dest="request_id", help="request id (default: a random one)")
    parser.add_argument("--model", help="catalogue model name (default: the worker's default)")
    parser.add_argument("--direct-reply-to", action="store_true", help="use RabbitMQ direct reply-to instead of an exclusive queue")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the reply (default 60)")
    args = parser.parse_args()

    request_id = args.request_id or f"py-rpc-{uuid.uuid4().hex[:12]}"
    connection = connect()
    try:
        answer = call(connection.channel(), build_request(request_id, args.texts, args.model), args.direct_reply_to, args.timeout)
        if answer is None:
            print(f"{request_id} no reply within {args.timeout:g} s (is a worker consuming embed-requested?)", file=sys.stderr)
            return 2
        status, result, correlation_id = answer
        print(f"{describe(status, result)} correlation_id={correlation_id} body_correlation_id={result.get('correlationId')}")
        return 0 if status == "completed" else 1
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
