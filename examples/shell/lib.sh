# shellcheck shell=bash
# Shared by publish.sh and embed.sh: the RabbitMQ management HTTP API with curl, and JSON with jq when it is
# installed, else python3's json module. Sourced, not run.
#
# Environment:
#   RABBITMQ_API       management URL (default http://localhost:15672)
#   RABBITMQ_USER      default guest (guest only works from the broker's own host)
#   RABBITMQ_PASSWORD  default guest
#   RABBITMQ_VHOST     default /
#   JSON_TOOL          jq or python3 (default: jq when installed)

RABBITMQ_API=${RABBITMQ_API:-http://localhost:15672}
RABBITMQ_API=${RABBITMQ_API%/}
RABBITMQ_USER=${RABBITMQ_USER:-guest}
RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-guest}
RABBITMQ_VHOST=${RABBITMQ_VHOST:-/}
if [ -z "${JSON_TOOL:-}" ]; then
    if command -v jq >/dev/null 2>&1; then JSON_TOOL=jq; else JSON_TOOL=python3; fi
fi
command -v curl >/dev/null 2>&1 || { echo "curl is needed" >&2; exit 2; }
command -v "$JSON_TOOL" >/dev/null 2>&1 || { echo "$JSON_TOOL is needed for JSON (install jq or python3)" >&2; exit 2; }

# urlencode STRING: one path segment ("/" -> "%2F").
urlencode() {
    if [ "$JSON_TOOL" = jq ]; then
        jq -rn --arg s "$1" '$s | @uri'
    else
        python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
    fi
}

# shellcheck disable=SC2034 # used by the scripts that source this file
VHOST_PATH=$(urlencode "$RABBITMQ_VHOST")

# api METHOD PATH [JSON_BODY]: prints the response body; fails (with the body on stderr) on an HTTP error.
api() {
    local args=(--silent --show-error --fail-with-body -u "$RABBITMQ_USER:$RABBITMQ_PASSWORD" -X "$1")
    if [ $# -ge 3 ]; then
        args+=(-H 'content-type: application/json' --data-binary "$3")
    fi
    local body
    if ! body=$(curl "${args[@]}" "$RABBITMQ_API/api/$2"); then
        echo "$1 $RABBITMQ_API/api/$2 failed: $body" >&2
        return 1
    fi
    printf '%s\n' "$body"
}

# request_json ID TEXT...: an EmbedRequested body.
request_json() {
    local id=$1
    shift
    if [ "$JSON_TOOL" = jq ]; then
        jq -cn --arg id "$id" '{requestId: $id, texts: $ARGS.positional}' --args "$@"
    else
        python3 -c 'import json, sys; print(json.dumps({"requestId": sys.argv[1], "texts": sys.argv[2:]}))' "$id" "$@"
    fi
}

# publish_json PAYLOAD: the body of POST /api/exchanges/{vhost}/amq.default/publish for the worker's queue.
# The payload travels as a string inside this JSON; persistent (delivery_mode 2), like any AMQP producer's.
publish_json() {
    if [ "$JSON_TOOL" = jq ]; then
        jq -cn --arg payload "$1" '{properties: {delivery_mode: 2, content_type: "application/json"},
            routing_key: "embed-requested", payload: $payload, payload_encoding: "string"}'
    else
        python3 -c 'import json, sys; print(json.dumps({"properties": {"delivery_mode": 2, "content_type": "application/json"},
            "routing_key": "embed-requested", "payload": sys.argv[1], "payload_encoding": "string"}))' "$1"
    fi
}

# is_routed: reads the publish response on stdin; true when the broker routed the message to a queue.
is_routed() {
    if [ "$JSON_TOOL" = jq ]; then
        jq -e '.routed == true' >/dev/null
    else
        python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("routed") is True else 1)'
    fi
}

# find_result ID: reads a /get response on stdin; prints "ID completed vectors=N dimensions=D model=M" or
# "ID failed code=C message=..." for the result with this request id, and fails when there is none.
find_result() {
    if [ "$JSON_TOOL" = jq ]; then
        jq -re --arg id "$1" 'map(select(.payload_encoding == "string") | {exchange, body: (.payload | fromjson)}
            | select(.body.requestId == $id)) | first // empty
            | if .exchange == "embed-completed" then "\(.body.requestId) completed vectors=\(.body.embeddings | length) dimensions=\(.body.dimensions) model=\(.body.model)"
              else "\(.body.requestId) failed code=\(.body.code) message=\(.body.message | tojson)" end'
    else
        python3 -c '
import json, sys
for m in json.load(sys.stdin):
    if m.get("payload_encoding") != "string":
        continue
    body = json.loads(m["payload"])
    if body.get("requestId") != sys.argv[1]:
        continue
    if m["exchange"] == "embed-completed":
        print("%s completed vectors=%d dimensions=%s model=%s" % (body["requestId"], len(body["embeddings"]), body["dimensions"], body["model"]))
    else:
        print("%s failed code=%s message=%s" % (body["requestId"], body.get("code"), json.dumps(body.get("message"))))
    sys.exit(0)
sys.exit(1)' "$1"
    fi
}
