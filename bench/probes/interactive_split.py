#!/usr/bin/env python3
"""Where an interactive request's time goes behind a bulk backlog of 16-text messages (as `akidb-queue embed` sends them).

Run against a broker with one worker consuming `embed-requested` and nothing else on the vhost:

    /usr/bin/python3 bench/probes/interactive_split.py amqp://guest:guest@127.0.0.1:5672/%2F [BULK_MESSAGES] [INTERACTIVE] [ROUNDS] [TEXTS_PER_MESSAGE]

It sends 20 interactive requests to warm the worker up and 20 to the idle worker, then BULK_MESSAGES (default
1000) bulk messages of TEXTS_PER_MESSAGE (default 16) texts from the benchmark's short corpus (.artifacts/bench/path-input.jsonl, written by
`./bench.sh --path`; past its end it starts over), then alternates bulk alone and bulk with INTERACTIVE (default 60)
single-text interactive requests (AMQP priority 9, "priority": "high") every 250 ms, ROUNDS (default 1) times, alone
first and last. It splits each interactive request's time from publish to result with the worker's own fields:
`queuedMs` (no AMQP timestamp is set, so it runs from the worker's delivery to its batch's start: the wait for a
lane), `inferenceMs`, and the rest (the wait for a prefetch slot before the broker delivers it, the two broker hops
and the publish); and weighs the bulk rate of each interactive window against the alone windows either side. The
backlog must outlast the windows (about 600 texts/s on 2 cores: 4,500 messages for 3 rounds). A diagnostic, not part
of `./bench.sh`: the rest of the backlog is left on the queue (purge it, or delete the vhost, afterwards).
"""
import json
import sys
import time

import pika

url = sys.argv[1]
bulk_messages = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
interactive = int(sys.argv[3]) if len(sys.argv) > 3 else 60
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 1
per_message = int(sys.argv[5]) if len(sys.argv) > 5 else 16  # bulk texts per message: 16 as `embed` sends them, or 1
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


def wait(seconds):
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        listen.process_data_events(max(0.0, until - time.perf_counter()))


queries = 0  # every interactive request gets a new query: a repeated one would be answered from the worker's cache


def interactive_phase(prefix, count, keep=False):
    global queries
    base = len(sent) if keep else 0
    for k in range(base, base + count):
        request_id = f"{prefix}{k}"
        sent[request_id] = time.perf_counter()
        body = {"requestId": request_id, "texts": [f"query {k}: {texts[-1 - queries]}"], "priority": "high"}
        queries += 1
        publisher.basic_publish("", "embed-requested", json.dumps(body), pika.BasicProperties(priority=9))
        wait(0.25)
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
    start = (m * per_message) % (len(texts) - per_message)  # past the corpus's end it starts over (cache off: still computed)
    body = {"requestId": f"b{m}", "texts": texts[start:start + per_message]}
    publisher.basic_publish("", "embed-requested", json.dumps(body), pika.BasicProperties(priority=0))
listen.process_data_events(2.0)  # the worker fills its prefetch


def bulk_rate(start, end):
    return sum(start <= t <= end for t in bulk_done) * per_message / (end - start)


# Bulk alone and bulk with interactive requests, in windows that alternate on the same worker and backlog (ROUNDS
# pairs, alone first and last): each interactive window is weighed against the mean of the alone windows either side
# of it, so neither the machine's drift nor the corpus's order (lengths change along it) reads as the setting's cost.
# The first 1.5 s of each alone window are not counted: interactive batches keep bulk ones capped for 1 s after them.
window = 0.25 * interactive
alone, mixed, gaps_all = [], [], []
for r in range(rounds + 1):
    wait(1.5)
    start = time.perf_counter()
    wait(window)
    alone.append(bulk_rate(start, time.perf_counter()))
    if r == rounds:
        break
    window_start = time.perf_counter()
    interactive_phase("i", interactive, keep=True)
    window_end = time.perf_counter()
    mixed.append(bulk_rate(window_start, window_end))
    done = [t for t in bulk_done if window_start <= t <= window_end]
    gaps_all += [(b - a) * 1000 for a, b in zip(done, done[1:])]
report(f"behind {bulk_messages * per_message} bulk texts ({per_message} a message), {rounds} windows")
ratios = [m / ((alone[i] + alone[i + 1]) / 2) for i, m in enumerate(mixed)]
print("bulk texts/s alone: " + " ".join(f"{a:.0f}" for a in alone) + "; with interactive: " + " ".join(f"{m:.0f}" for m in mixed))
print("bulk with interactive / alone either side: " + " ".join(f"{x:.2f}x" for x in ratios) + f" (median {sorted(ratios)[len(ratios) // 2]:.2f}x)")
if gaps_all:
    print(f"gap between bulk answers while interactive requests arrive p50 {percentile(gaps_all, .5):.1f} / p95 {percentile(gaps_all, .95):.1f} / "
          f"max {max(gaps_all):.1f} ms; {sum(g < 2 for g in gaps_all)} of {len(gaps_all)} gaps under 2 ms (answered together)")
