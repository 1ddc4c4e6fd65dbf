#!/usr/bin/env bash
# A/B of two `akidb-queue embed` builds through one worker: texts/s and the worker's real / padded tokens per model
# call (akidb.batch.padding_efficiency), old and new alternating. A diagnostic, not part of ./bench.sh.
#   bench/probes/embed_ab.sh OLD_CLI_DIR NEW_CLI_DIR [PAIRS] [INPUT.jsonl]
# CLI dirs hold akidb-queue.dll (e.g. `git worktree add /tmp/old HEAD~1 && dotnet build /tmp/old/src/Cli -c Release
# -o /tmp/cli-old`). INPUT defaults to the path benchmark's 20,000 short texts (.artifacts/bench/path-input.jsonl,
# written by `./bench.sh --path`). The worker is the one ./bench.sh publishes (.artifacts/bench/worker), cache off,
# on a private broker; each run first embeds 2,000 warm-up texts. Measured 2026-12-04 (2 shared cores, 3 pairs): before
# length grouping 623/636/651 texts/s at 0.92, grouped 680/716/709 at 0.985 (pairwise 1.09x, 1.13x, 1.09x).
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:?old CLI dir}; new=${2:?new CLI dir}; pairs=${3:-3}; input=${4:-.artifacts/bench/path-input.jsonl}
work=$(mktemp -d); broker=$work/broker; amqp=5893; metrics=9893
url=amqp://guest:guest@127.0.0.1:$amqp/
trap 'kill ${worker:-} 2>/dev/null || true; scripts/rabbitmq-private.sh stop "$broker" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/rabbitmq-private.sh start "$broker" --amqp-port $amqp --mgmt-port 15893 >/dev/null
head -2000 "$input" | sed 's/"id":"/"id":"warm-/; s/"text":"/"text":"warm /' > "$work/warm.jsonl"
padding() { # mean real/padded tokens per model call between two scrapes
  /usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys
def load(p):
    d = {}
    for line in open(p):
        m = re.match(r'akidb_batch_padding_efficiency_(sum|count)\{[^}]*\} (\S+)', line)
        if m: d[m.group(1)] = d.get(m.group(1), 0) + float(m.group(2))
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
print(f"{(b['sum'] - a.get('sum', 0)) / (b['count'] - a.get('count', 0)):.3f}")
PY
}
one() { # $1 label, $2 CLI dir
  env RabbitMq__Url=$url Cache__Enabled=false Health__Urls= Telemetry__PrometheusUrl=http://127.0.0.1:$metrics/ \
    Embedding__CacheDirectory="$PWD/.artifacts/bench/models" dotnet .artifacts/bench/worker/AkiDb.Queue.Worker.dll > "$work/worker.log" 2>&1 &
  worker=$!
  until grep -q "worker ready" "$work/worker.log"; do kill -0 $worker || { cat "$work/worker.log"; exit 1; }; sleep 0.5; done
  rm -f "$work"/*.out; dotnet "$2/akidb-queue.dll" embed "$work/warm.jsonl" --out "$work/warm.out" --url $url >/dev/null
  curl -s http://127.0.0.1:$metrics/metrics > "$work/m0"
  local texts start end; texts=$(grep -c . "$input"); start=$(date +%s.%N)
  dotnet "$2/akidb-queue.dll" embed "$input" --out "$work/run.out" --url $url >/dev/null
  end=$(date +%s.%N); curl -s http://127.0.0.1:$metrics/metrics > "$work/m1"
  echo "$1: $(/usr/bin/python3 -c "print(f'{$texts/($end-$start):.0f}')") texts/s, padding efficiency $(padding "$work/m0" "$work/m1")"
  kill $worker; wait $worker 2>/dev/null || true
}
for i in $(seq "$pairs"); do one "old #$i" "$old"; one "new #$i" "$new"; done
