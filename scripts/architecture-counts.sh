#!/usr/bin/env bash
# The architecture counts of issue 21, read from a source tree (default: this checkout), so a report can put two trees
# side by side (./bench.sh compare does: the baseline commit's tree and this one, counted by this one script).
#   scripts/architecture-counts.sh [TREE] [--lines]
# Prints one tab-separated row per count: key, value, what it counts. --lines also prints the matching lines (indented).
# Comment lines (// and /// and * ) are not code and are not counted.
set -euo pipefail
tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}
show=${2:-}
cd "$tree"

code() { # code PATTERN PATHS...: matching non-comment lines as path:line:text, -P (Perl) regular expressions
    local pattern=$1; shift
    grep -rnP --include='*.cs' "$pattern" "$@" 2>/dev/null | grep -vP '^[^:]+:\d+:\s*(//|\*|/\*)' || true
}
row() { # row KEY DESCRIPTION LINES
    local count
    count=$(printf '%s' "$3" | grep -c . || true)
    printf '%s\t%s\t%s\n' "$1" "$count" "$2"
    [[ $show == --lines && -n $3 ]] && printf '%s\n' "$3" | sed 's/^/    /'
    return 0
}
files() { printf '%s' "$1" | cut -d: -f1 | sort -u; }

guards=$(code '\block\s*\(|\bSemaphoreSlim\b|\bVolatile\.|\bvolatile\b|\bInterlocked\.' src/Worker)
row guard-lines "lines of lock, SemaphoreSlim, Volatile., volatile, Interlocked. in src/Worker" "$guards"
row guard-files "files in src/Worker with such a line" "$(files "$guards")"

# A result is built where EmbedCompleted/EmbedFailed is handed to the publisher; ResultPublisher itself is the transport.
builders=$(code '\.PublishAsync\(context,|PublishToExchangeAsync\(new Embed' src/Worker | grep -v '/ResultPublisher.cs:' || true)
row result-builder-files "files that build and publish a result (completed, failed, expired, malformed)" "$(files "$builders")"
row result-exchange-literals "result exchanges written as string literals instead of QueueNames" "$(code '"embed-(completed|failed)"' src/Worker)"

# A request field parsed from its string: the inputType and encoding parsers' call sites (not their definitions).
parses=$(code '(?<!static bool )\bTryParseInputType\(|\bVectorEncoder\.TryParse\(|\bVectorEncodings\.TryParse\(|(?<!static bool )\bTryParse\(requested' src/Worker)
row request-parse-sites "call sites parsing a request's inputType or encoding string" "$parses"
row request-parse-files "files with such a call site" "$(files "$parses")"

# Settings: each distinct way a section is bound or checked. One mechanism = only AddValidatedOptions.
registrations=$(code 'AddValidatedOptions<\w+>\(' src/Worker src/Broker)
row settings-helper "sections registered with the one helper (AddValidatedOptions)" "$registrations"
row settings-bindconfiguration "sections bound with AddOptions().BindConfiguration() instead" "$(code 'BindConfiguration\(' src/Worker src/Broker)"
row settings-validator-classes "separate IValidateOptions<> validator classes" "$(code ':\s*IValidateOptions<' src/Worker src/Broker)"
# (OTEL_EXPORTER_OTLP_ENDPOINT, read as the OpenTelemetry SDK documents it, is not a setting of ours.)
raw='Configuration\.(GetValue\b|GetSection\([^)]*\)\.Get<)'
row settings-raw-reads "sections or keys read raw from IConfiguration (GetValue, GetSection().Get<>)" "$(code "$raw" src/Worker src/Broker)"
mechanisms=0
for pattern in 'AddValidatedOptions<\w+>\(' 'BindConfiguration\(' ':\s*IValidateOptions<' "$raw"; do
    [[ -n $(code "$pattern" src/Worker src/Broker) ]] && mechanisms=$((mechanisms + 1))
done
printf '%s\t%s\t%s\n' settings-mechanisms "$mechanisms" "distinct ways of the four above in use"

large=$(find src/Worker -name '*.cs' -print0 | xargs -0 wc -l | grep -v ' total$' | awk '$1 > 250 {print $2 ":" $1}')
row worker-files-over-250 "files in src/Worker over 250 lines" "$large"
row cli-references-worker "ProjectReferences from the CLI to the worker" "$(grep -n 'Worker' src/Cli/*.csproj | grep -i projectreference || true)"
