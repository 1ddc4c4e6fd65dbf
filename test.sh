#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the .NET test projects (unit and integration, against a
# real RabbitMQ, the real Python bridge and the real model) and the bridge's own Python tests, then prints one line
# "tests: N passed, N failed, N skipped". Exit code 0 only when nothing failed.
set -euo pipefail
cd "$(dirname "$0")"

scripts/prerequisites.sh python3-pika docker-compose redis-server openssl iproute2

results=.artifacts/test-results
rm -rf "$results"
mkdir -p "$results"

# node and npm for the manifest checks (deploy/validate-manifests.mjs; a node from another source counts), and the
# Kubernetes and KEDA schema packages, pinned by deploy/package-lock.json.
{ command -v node && command -v npm; } >/dev/null 2>&1 || scripts/prerequisites.sh nodejs npm
[ -d deploy/node_modules/@kubernetes-models/keda ] || npm ci --prefix deploy --no-audit --no-fund --loglevel=error

echo "== build"
dotnet build AkiDb.Queue.sln -c Debug -nologo -clp:ErrorsOnly

passed=0 failed=0 skipped=0 status=0

echo "== .NET tests"
set +e
dotnet test AkiDb.Queue.sln -c Debug --no-build -nologo --logger "trx;LogFilePrefix=dotnet" --results-directory "$results" "$@" 2>&1 | tee "$results/dotnet.log"
dotnet_status=${PIPESTATUS[0]}
set -e
[ "$dotnet_status" -eq 0 ] || status=1
# "Passed!  - Failed:     0, Passed:    50, Skipped:     0, Total:    50" (one line per test assembly)
while read -r f p s; do
    failed=$((failed + f)); passed=$((passed + p)); skipped=$((skipped + s))
done < <(sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+),.*/\1 \2 \3/p' "$results/dotnet.log")

echo "== Python bridge tests"
# The real-model tests use the copy the .NET tests extracted.
model_dir=$(find "${TMPDIR:-/tmp}/akidb-queue-tests/models/all-MiniLM-L6-v2" -name model.onnx -printf '%h\n' 2>/dev/null | head -n 1 || true)
ort_library=$(find src/Worker/bin/Debug -path '*linux-x64/native/libonnxruntime.so' | head -n 1)
set +e
(cd python && AKIDB_TEST_MODEL_DIR="$model_dir" AKIDB_ORT_LIBRARY="$PWD/../$ort_library" /usr/bin/python3 -m unittest discover -s tests) 2>&1 | tee "$results/python.log"
python_status=${PIPESTATUS[0]}
set -e
[ "$python_status" -eq 0 ] || status=1
ran=$(sed -nE 's/^Ran ([0-9]+) tests?.*/\1/p' "$results/python.log" | tail -n 1)
py_failed=$(sed -nE 's/.*FAILED \(.*failures=([0-9]+).*/\1/p' "$results/python.log" | tail -n 1)
py_errors=$(sed -nE 's/.*FAILED \(.*errors=([0-9]+).*/\1/p' "$results/python.log" | tail -n 1)
py_skipped=$(sed -nE 's/.*skipped=([0-9]+).*/\1/p' "$results/python.log" | tail -n 1)
py_bad=$(( ${py_failed:-0} + ${py_errors:-0} ))
failed=$((failed + py_bad)); skipped=$((skipped + ${py_skipped:-0}))
passed=$((passed + ${ran:-0} - py_bad - ${py_skipped:-0}))

echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
