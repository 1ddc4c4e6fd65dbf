#!/usr/bin/env bash
# Installs what AkiDb.Queue needs from the distribution when it is missing: rabbitmq-server (a local broker),
# a python3 with numpy (the bridge), and optionally extra packages named as arguments. Debian/Ubuntu (apt).
# Sourced or run by run.sh and test.sh; safe to run again (it only installs what is missing).
set -euo pipefail

need=()
have_python_with_numpy() {
    local p
    for p in $(type -ap python3) /usr/bin/python3 /usr/local/bin/python3; do
        [ -x "$p" ] && "$p" -I -c 'import numpy' >/dev/null 2>&1 && return 0
    done
    return 1
}

[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
have_python_with_numpy || need+=(python3 python3-numpy)
for extra in "$@"; do
    dpkg -s "$extra" >/dev/null 2>&1 || need+=("$extra")
done

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "prerequisites: missing ${need[*]}, and this is not a Debian/Ubuntu machine (no apt-get)." >&2
    echo "Install RabbitMQ 3.x and a Python 3.9+ with numpy, then run this again." >&2
    exit 2
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "prerequisites: need root (or sudo) to install: ${need[*]}" >&2; exit 2; }
    sudo=(sudo)
fi

echo "prerequisites: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
# The package tries to start a system broker; policy-rc.d in containers refuses, which is fine: we run our own.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || {
    echo "prerequisites: apt-get install failed" >&2
    exit 2
}
