#!/usr/bin/env bash
# The benchmark: in-process limit, peer library, bridge alone (binary and JSON framing), IPC round trips,
# end to end through RabbitMQ at saturation and fixed loads, cold start and memory, the embedding cache (section 6,
# its own report docs/benchmarks-cache.md; --skip-cache leaves it out) - one run, the same texts.
#   ./bench.sh           full run (~10-15 min on 2 cores); rewrites docs/benchmarks.md, docs/benchmarks.json, docs/benchmarks-*.png
#   ./bench.sh --quick   smoke run (~2 min) of every section, written to .artifacts/bench/quick/
#   ./bench.sh --help    other options (--out DIR, --skip-*, --e2e-configs, --corpora, --render-only)
#   ./bench.sh int8      int8 against fp32 side by side: in-process limit, arithmetic vs this CPU's peak, start-up, akidb-queue embed
#                        (docs/benchmarks-int8.md + .json, and docs/benchmarks.md re-rendered with its targets; ~10 min; --skip-user-path: limit only)
#   ./bench.sh compare   this tree's worker against a baseline commit's (--baseline, default fd64925), alternating in pairs
#                        through one broker: saturation and p95 at 10 % load, plus scripts/architecture-counts.sh of both
#                        trees (docs/benchmarks-architecture.md, ~30 min for 3 pairs)
#   ./bench.sh quality   int8 variants against fp32 (docs/quality.md); `quality --sensitivity`: what stays fp32 (docs/quality-sensitivity.md)
# AKIDB_BENCH_RABBITMQ_URL (+ AKIDB_BENCH_RABBITMQ_MANAGEMENT_URL) selects an existing broker; otherwise a private
# one is started by the benchmark (data in .artifacts/bench/broker) and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

case " $* " in
    *" -h "* | *" --help "*) ;;
    *)
        say "Checking prerequisites (rabbitmq-server, a python3 with numpy, redis-server for the cache section)"
        scripts/prerequisites.sh redis-server
        ;;
esac

say "Building the worker and the benchmark (Release)"
# --disable-build-servers: no compiler or MSBuild server left running to compete with the measurements for 2 cores.
dotnet build bench/AkiDb.Queue.Bench/AkiDb.Queue.Bench.csproj -c Release --disable-build-servers -nologo -clp:ErrorsOnly -v:q
# The user-path section runs akidb-queue embed as a user does.
dotnet build src/Cli/AkiDb.Queue.Cli.csproj -c Release --disable-build-servers -nologo -clp:ErrorsOnly -v:q

say "Publishing the worker as it is deployed (Release, ReadyToRun for this machine's runtime)"
rid=$(dotnet --info | awk '/ RID:/ {print $2; exit}')
dotnet publish src/Worker -c Release -r "$rid" --self-contained false --disable-build-servers -nologo -clp:ErrorsOnly -v:q \
    -o .artifacts/bench/worker

if [[ ${1:-} == compare ]]; then
    # The baseline's worker, published the same way from a temporary worktree (removed at the end), beside this tree's.
    shift
    baseline=fd64925
    pass=()
    while (($#)); do
        case $1 in
            --baseline) baseline=$2; shift 2 ;;
            *) pass+=("$1"); shift ;;
        esac
    done
    baseline=$(git rev-parse --short "$baseline^{commit}")
    tree=.artifacts/bench/baseline-tree
    git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
    git worktree prune
    say "Publishing the baseline worker ($baseline) from a temporary worktree ($tree)"
    git worktree add --detach --quiet "$tree" "$baseline"
    trap 'git worktree remove --force "$tree" || true' EXIT
    dotnet publish "$tree/src/Worker" -c Release -r "$rid" --self-contained false --disable-build-servers -nologo -clp:ErrorsOnly -v:q \
        -o .artifacts/bench/worker-baseline
    current=$(git rev-parse --short HEAD)$([[ -z $(git status --porcelain) ]] || echo "+uncommitted")
    say "Running the comparison (baseline $baseline, current $current); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    # No exec: the trap removes the worktree after the comparison ends.
    dotnet bench/AkiDb.Queue.Bench/bin/Release/net10.0/AkiDb.Queue.Bench.dll compare "${pass[@]}" \
        --baseline-commit "$baseline" --baseline-dll "$PWD/.artifacts/bench/worker-baseline/AkiDb.Queue.Worker.dll" \
        --baseline-root "$PWD/$tree" --current-commit "$current"
    exit
fi

say "Running the benchmark"
# exec: Ctrl+C reaches the benchmark, which then stops the workers and the broker it started.
exec dotnet bench/AkiDb.Queue.Bench/bin/Release/net10.0/AkiDb.Queue.Bench.dll "$@"
