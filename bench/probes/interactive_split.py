#!/usr/bin/env python3
"""Where an interactive request's time goes behind a bulk backlog of 16-text messages (as `akidb-queue embed` sends them).

Run against a broker with one worker consuming `embed-requested` and nothing else on the vhost:

    /usr/bin/python3 bench/probes/interactive_split.py amqp://guest:guest@127.0.0.1:5672/%2F [BULK_MESSAGES] [INTERACTIVE]

It sends 20 interactive requests to warm the worker up and 20 to the idle worker, then BULK_MESSAGES (default
1000) bulk messages of 16 texts from the benchmark's short corpus (.artifacts/bench/path-input.jsonl, written by
`./bench.sh --path`), then waits as long as the interactive phase will take (bulk alone), then INTERACTIVE (default
60) single-text interactive requests (AMQP priority 9, "priority": "high") every 250 ms, and splits each
interactive request's time from publish to result with the worker's own fields: `queuedMs` (no AMQP timestamp is set,
so it runs from the worker's delivery to its batch's start: the wait for a lane), `inferenceMs`, and the rest (the wait
for a prefetch slot before the broker delivers it, the two broker hops and the publish). A diagnostic, not part of
`./bench.sh`: the bulk backlog is left on the queue (purge it, or delete the vhost, afterwards).
"""
import json
import sys
import time

import pika

url = sys.argv[1]
bulk_messages = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
interactive = int(sys.argv[3]) if len(sys.argv) > 3 else 60
texts = [json.loads(line)["text"] for line in open(".artifacts/bench/path-input.jsonl")]

listen = pika.BlockingConnection(pika.URLParameters(url))
results = listen.channel()
queue = results.queue_declare("", exclusive=True).method.queue
for exchange in ("embed-completed", "embed-failed"):
    results.queue_bind(queue, exchange)
sent, received = {}, {}
bulk_done = []  # arrival times of bulk results: each one freed a prefetch slot


def on_result(channel, method, _properties, body):
    result = json.loads(body)
    request_id = result.get("requestId", "")
    if request_id.startswith("i"):
        received[request_id] = (time.perf_counter(), result)
    elif request_id.startswith("b"):
        bulk_done.append(time.perf_counter())
    channel.basic_ack(method.delivery_tag)


results.basic_consume(queue, on_result)
publisher = pika.BlockingConnection(pika.URLParameters(url)).channel()


def interactive_phase(prefix, count):
    for k in range(count):
        request_id = f"{prefix}{k}"
        sent[request_id] = time.perf_counter()
        body = {"requestId": request_id, "texts": [f"query {k}: {texts[-1 - k]}"], "priority": "high"}
        publisher.basic_publish("", "embed-requested", json.dumps(body), pika.BasicProperties(priority=9))
        until = time.perf_counter() + 0.25
        while time.perf_counter() < until:
            listen.process_data_events(max(0.0, until - time.perf_counter()))
    until = time.perf_counter() + 30
    while any(r not in received for r in sent) and time.perf_counter() < until:
        listen.process_data_events(0.1)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def report(label):
    rows = [((received[r][0] - t) * 1000, received[r][1].get("queuedMs", 0.0), received[r][1].get("inferenceMs", 0.0))
            for r, t in sent.items() if r in received]
    print(f"{label}: {len(rows)} of {len(sent)} answered")
    columns = [("publish to result", [r[0] for r in rows]), ("delivery to batch start (queuedMs)", [r[1] for r in rows]),
               ("model (inferenceMs)", [r[2] for r in rows]), ("the rest: prefetch slot, broker, publish", [r[0] - r[1] - r[2] for r in rows])]
    for name, values in columns:
        print(f"  {name:42s} p50 {percentile(values, .5):7.1f}  p95 {percentile(values, .95):7.1f}  max {max(values):7.1f} ms")
    sent.clear()
    received.clear()


interactive_phase("iwarm", 20)  # a fresh worker compiles its hot path on its first requests
sent.clear()
received.clear()
interactive_phase("iidle", 20)
report("idle worker")
for m in range(bulk_messages):
    body = {"requestId": f"b{m}", "texts": texts[m * 16:(m + 1) * 16]}
    publisher.basic_publish("", "embed-requested", json.dumps(body), pika.BasicProperties(priority=0))
listen.process_data_events(2.0)  # the worker fills its prefetch
# Bulk alone for as long as the interactive phase will take, on the same worker and backlog: the throughput the
# interactive requests are weighed against.
alone_start = time.perf_counter()
until = alone_start + 0.25 * interactive
while time.perf_counter() < until:
    listen.process_data_events(max(0.0, until - time.perf_counter()))
alone_end = time.perf_counter()
alone_rate = sum(alone_start <= t <= alone_end for t in bulk_done) * 16 / (alone_end - alone_start)
window_start = time.perf_counter()
interactive_phase("i", interactive)
window_end = time.perf_counter()
report(f"behind {bulk_messages * 16} bulk texts")
# How often a prefetch slot freed while the interactive requests arrived: the wait before delivery can not be shorter
# than the time to the next bulk message answered.
done = [t for t in bulk_done if window_start <= t <= window_end]
gaps = [(b - a) * 1000 for a, b in zip(done, done[1:])]
if gaps:
    rate = len(done) * 16 / (window_end - window_start)
    print(f"bulk alone just before: {alone_rate:.0f} texts/s; with the interactive requests {rate:.0f} texts/s ({rate / alone_rate:.2f}x)")
    print(f"bulk messages answered in the window: {len(done)} ({rate:.0f} texts/s); "
          f"gap between answers p50 {percentile(gaps, .5):.1f} / p95 {percentile(gaps, .95):.1f} / max {max(gaps):.1f} ms; "
          f"{sum(g < 2 for g in gaps)} of {len(gaps)} gaps under 2 ms (answered together)")
