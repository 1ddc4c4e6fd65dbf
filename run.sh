#!/usr/bin/env bash
# The main job, on a fresh Debian/Ubuntu machine with the .NET SDK:
#   1. installs what is missing (rabbitmq-server, a python3 with numpy),
#   2. uses the broker in $RabbitMq__Url, or one already answering on localhost:5672, or starts a private one,
#   3. builds and starts the worker (bundled all-MiniLM-L6-v2, Python bridge), packs the CLI as a .NET tool and installs
#      it into .artifacts/tools (`akidb-queue` on this script's PATH),
#   4. publishes a handful of sample texts with `akidb-queue demo` and prints their results (dimensions, similarities),
#   5. leaves the management UI address on screen and keeps the worker running until Ctrl+C.
# ./run.sh --exit stops everything after step 4 instead (used by CI to check this script).
set -euo pipefail
cd "$(dirname "$0")"

exit_after_demo=0
[ "${1:-}" = "--exit" ] && exit_after_demo=1
state=.artifacts/run
mkdir -p "$state"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "Checking prerequisites"
scripts/prerequisites.sh

started_broker=0
management_url=${AKIDB_MANAGEMENT_URL:-}
if [ -n "${RabbitMq__Url:-}" ]; then
    say "Using the broker in RabbitMq__Url"
elif (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    export RabbitMq__Url=amqp://guest:guest@localhost:5672/
    say "Using the broker already listening on localhost:5672"
else
    say "Starting a private RabbitMQ (data in $state/broker)"
    out=$(scripts/rabbitmq-private.sh start "$state/broker" --amqp-port 5672 --mgmt-port 15672)
    started_broker=1
    export RabbitMq__Url=$(sed -n 's/^AMQP_URL=//p' <<<"$out")
    management_url=$(sed -n 's/^MANAGEMENT_URL=//p' <<<"$out")
fi
export AKIDB_MANAGEMENT_URL=${management_url:-http://localhost:15672/}

say "Building the worker and the CLI"
dotnet build src/Worker -c Release -nologo -clp:ErrorsOnly -v:q
dotnet build src/Cli -c Release -nologo -clp:ErrorsOnly -v:q

# The CLI as users install it: the AkiDb.Queue.Cli package, installed from the packed folder only (a nuget.config of
# its own), with a package folder of its own so a copy of the same version cached earlier cannot stand in for it.
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
tools=$PWD/.artifacts/tools
say "Installing the akidb-queue tool $version into .artifacts/tools"
dotnet pack src/Cli -c Release --no-build -nologo -v:q -o .artifacts/packages >/dev/null
cat >"$state/tool-nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><clear /><add key="packed" value="$PWD/.artifacts/packages" /></packageSources></configuration>
XML
rm -rf "$tools" "$state/tool-packages"
NUGET_PACKAGES=$PWD/$state/tool-packages dotnet tool install --tool-path "$tools" --configfile "$state/tool-nuget.config" \
    AkiDb.Queue.Cli --version "$version" >/dev/null
export PATH="$tools:$PATH"

worker_pid=
cleanup() {
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
        say "Stopping the worker"
        kill -TERM "$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
    fi
    if [ "$started_broker" -eq 1 ]; then
        say "Stopping the private RabbitMQ"
        scripts/rabbitmq-private.sh stop "$state/broker" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "Starting the worker (log: $state/worker.log)"
dotnet src/Worker/bin/Release/net10.0/AkiDb.Queue.Worker.dll >"$state/worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 1 240); do
    grep -q "worker ready" "$state/worker.log" 2>/dev/null && break
    if ! kill -0 "$worker_pid" 2>/dev/null; then
        echo "The worker exited during start-up:" >&2
        tail -n 30 "$state/worker.log" >&2
        exit 1
    fi
    sleep 0.5
done
grep -q "worker ready" "$state/worker.log" || { echo "The worker did not become ready in 120 s:" >&2; tail -n 30 "$state/worker.log" >&2; exit 1; }
grep -m1 "worker ready" "$state/worker.log" | sed 's/^.*\(AkiDb.Queue worker ready\)/\1/'

say "Publishing sample texts and waiting for their vectors"
akidb-queue demo

if [ "$exit_after_demo" -eq 1 ]; then
    exit 0
fi
say "The worker keeps running: embed your own files with"
echo "    export PATH=\"$tools:\$PATH\"    # or: dotnet tool install --global --add-source .artifacts/packages AkiDb.Queue.Cli"
echo "    akidb-queue embed <folder-file-or-jsonl> --out vectors.jsonl"
echo "Management UI: $AKIDB_MANAGEMENT_URL (guest / guest). Press Ctrl+C to stop."
wait "$worker_pid"
