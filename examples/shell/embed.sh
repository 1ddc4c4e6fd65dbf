#!/usr/bin/env bash
# Embed texts and wait for the answer with curl only: declares a temporary queue bound to the result exchanges,
# publishes the request, polls the queue until its result arrives, prints one line, and deletes the queue.
#
#   RABBITMQ_API=http://localhost:15672 ./embed.sh "A man plays a guitar." "Someone performs music."
#
# Prints "ID completed vectors=N dimensions=D model=M" or "ID failed code=C message=...".
# Exit status: 0 completed, 1 failed, 2 no answer within EMBED_TIMEOUT seconds (default 60).
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 TEXT [TEXT...]" >&2; exit 64; }
timeout=${EMBED_TIMEOUT:-60}
id=${REQUEST_ID:-sh-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}
queue="embed-sh-$id"
queue_path="queues/$VHOST_PATH/$(urlencode "$queue")"

# HTTP cannot declare an exclusive queue, so a crash would leave this one behind: x-expires lets the broker delete
# it after 10 unused minutes; the trap deletes it at once on a normal exit.
api PUT "$queue_path" '{"durable": false, "auto_delete": false, "arguments": {"x-expires": 600000}}' >/dev/null
trap 'api DELETE "$queue_path" >/dev/null 2>&1 || true' EXIT
for exchange in embed-completed embed-failed; do
    # Declared as the worker declares them (durable fanout), so whichever comes first, both agree.
    api PUT "exchanges/$VHOST_PATH/$exchange" '{"type": "fanout", "durable": true, "auto_delete": false}' >/dev/null
    api POST "bindings/$VHOST_PATH/e/$exchange/q/$(urlencode "$queue")" '{"routing_key": ""}' >/dev/null
done

# Bound before publishing: a fanout exchange drops results that no queue is bound for yet.
REQUEST_ID=$id "$here/publish.sh" "$@" >/dev/null

deadline=$((SECONDS + timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
    # ack_requeue_false: the queue is ours, so fetched messages (other producers' results too) are done with.
    batch=$(api POST "$queue_path/get" '{"count": 50, "ackmode": "ack_requeue_false", "encoding": "auto"}')
    if line=$(find_result "$id" <<<"$batch"); then
        echo "$line"
        case $line in "$id completed "*) exit 0 ;; *) exit 1 ;; esac
    fi
    sleep 0.5
done
echo "$id: no answer within $timeout s (is a worker consuming embed-requested?)" >&2
exit 2
