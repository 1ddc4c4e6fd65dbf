#!/usr/bin/env bash
# Publish texts to the AkiDb.Queue worker through the RabbitMQ management HTTP API (curl only, no AMQP client)
# and print the request id.
#
#   RABBITMQ_API=http://localhost:15672 ./publish.sh "First text." "Second text."
#
# REQUEST_ID sets the id (default: a random one). See lib.sh for the other settings. The HTTP API is meant for
# tests and low volumes; producers with real traffic use an AMQP client (see ../python).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 TEXT [TEXT...]" >&2; exit 64; }
id=${REQUEST_ID:-sh-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}

# The HTTP publish is not confirmed the way an AMQP publish is; "routed" is what it reports: false means no queue
# named embed-requested exists yet (the worker declares it on its first start) and the message was dropped.
response=$(api POST "exchanges/$VHOST_PATH/amq.default/publish" "$(publish_json "$(request_json "$id" "$@")")")
if ! is_routed <<<"$response"; then
    echo "not routed: no queue embed-requested in vhost $RABBITMQ_VHOST (start the worker once; it declares it)" >&2
    exit 1
fi
echo "$id"
