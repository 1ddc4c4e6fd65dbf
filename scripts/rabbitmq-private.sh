#!/usr/bin/env bash
# rabbitmq-private.sh - one private, unprivileged RabbitMQ broker without systemd or Docker, for run.sh.
# (The tests and the benchmark start theirs from C#: tests/AkiDb.Queue.Testing/PrivateRabbitMq.cs.)
#   rabbitmq-private.sh start  DIR [--amqp-port N] [--mgmt-port N] [--timeout SECONDS]
#   rabbitmq-private.sh stop   DIR
#   rabbitmq-private.sh status DIR
# start prints AMQP_URL=... and MANAGEMENT_URL=... once AMQP and the management API answer. DIR holds the data, the
# logs, a private HOME with its Erlang cookie (mode 0400) and the ports; a later start reuses them. The Erlang
# distribution port is AMQP + 20000 and the node has its own epmd on 14369 + (AMQP - 5672), never the system one.
# Exit codes: 0 ok, 1 failed, 2 a dependency is missing, 3 not running (status), 64 usage.
set -euo pipefail
PROG=${0##*/}
# The real scripts, not the /usr/sbin wrappers: those switch to the rabbitmq user when run as root, which changes HOME
# and so the Erlang cookie, and rabbitmqctl could no longer reach the node.
SBIN=/usr/lib/rabbitmq/bin

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { local code=$1; shift; log "$*"; exit "$code"; }
usage() { sed -n '4,6p' "$0" | sed 's/^# */usage: /' >&2; exit 64; }
is_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# setup DIR: paths, saved ports, and the environment the server and every rabbitmqctl call need, identically.
setup() {
    [[ -n ${1:-} ]] || usage
    DIR=$(realpath -m -- "$1")
    AMQP_PORT=5672 MGMT_PORT=15672
    if [[ -f $DIR/ports ]]; then read -r AMQP_PORT MGMT_PORT <"$DIR/ports"; fi
    PID_FILE=$DIR/run/rabbitmq.pid
    NODE=akidb-run@localhost
}

node_env() {
    local name
    # Nothing of the caller's RabbitMQ or Erlang settings may leak into this node.
    for name in $(compgen -e); do
        if [[ $name == RABBITMQ_* || $name == ERL_* ]]; then unset "$name"; fi
    done
    export HOME=$DIR/home RABBITMQ_CONF_ENV_FILE=$DIR/etc/rabbitmq-env.conf RABBITMQ_NODENAME=$NODE \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000)) \
        ERL_EPMD_PORT=$((14369 + AMQP_PORT - 5672)) ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_MNESIA_BASE=$DIR/mnesia RABBITMQ_LOG_BASE=$DIR/log RABBITMQ_PID_FILE=$PID_FILE \
        RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/etc/enabled_plugins RABBITMQ_CONFIG_FILE=$DIR/etc/rabbitmq.conf
}

alive() {
    local pid
    [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE") && [[ $pid =~ ^[0-9]+$ ]] && [[ -d /proc/$pid ]]
}

running() { alive && listening "$AMQP_PORT"; }

print_urls() {
    printf 'AMQP_URL=amqp://guest:guest@127.0.0.1:%s/\nMANAGEMENT_URL=http://127.0.0.1:%s/\n' "$AMQP_PORT" "$MGMT_PORT"
}

write_files() {
    mkdir -p "$DIR/home" "$DIR/etc" "$DIR/log" "$DIR/run" "$DIR/mnesia"
    chmod 0700 "$DIR/home"
    local cookie=$DIR/home/.erlang.cookie
    if [[ ! -s $cookie ]]; then
        (umask 077 && od -An -tx1 -N 20 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F' >"$cookie.tmp")
        mv -f "$cookie.tmp" "$cookie"
    fi
    # Erlang refuses a cookie others can read, and the server script still exits 0 then: readiness decides below.
    chmod 0400 "$cookie"
    : >"$DIR/etc/rabbitmq-env.conf" # empty on purpose: it replaces /etc/rabbitmq/rabbitmq-env.conf
    printf '[rabbitmq_management].\n' >"$DIR/etc/enabled_plugins"
    printf '%s\n' "management.tcp.port = $MGMT_PORT" "management.tcp.ip = 127.0.0.1" \
        "disk_free_limit.absolute = 50MB" "log.console = false" "collect_statistics_interval = 1000" >"$DIR/etc/rabbitmq.conf"
    printf '%s %s\n' "$AMQP_PORT" "$MGMT_PORT" >"$DIR/ports"
}

cmd_start() {
    setup "${1:-}"; shift || true
    local timeout=90
    while (($#)); do
        case $1 in
            --amqp-port) is_port "${2:-}" || usage; AMQP_PORT=$2; shift 2 ;;
            --mgmt-port) is_port "${2:-}" || usage; MGMT_PORT=$2; shift 2 ;;
            --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; timeout=$2; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ -x $SBIN/rabbitmq-server ]] || die 2 "rabbitmq-server not found in $SBIN; install it with: apt-get install -y rabbitmq-server"
    node_env
    if running; then log "already running in $DIR"; print_urls; return 0; fi
    local port
    for port in "$AMQP_PORT" "$MGMT_PORT"; do
        listening "$port" && die 1 "port $port is taken; choose another with --amqp-port/--mgmt-port"
    done
    write_files
    log "starting $NODE (AMQP $AMQP_PORT, management $MGMT_PORT, data in $DIR)"
    (cd / && exec setsid "$SBIN/rabbitmq-server" >>"$DIR/log/server.out" 2>&1 </dev/null) &
    local launcher=$! deadline=$((SECONDS + timeout))
    until listening "$AMQP_PORT" && listening "$MGMT_PORT"; do
        if ! kill -0 "$launcher" 2>/dev/null || ((SECONDS >= deadline)); then
            log "the broker did not come up within ${timeout} s; last lines of its log:"
            tail -n 20 "$DIR/log/$NODE.log" "$DIR/log/server.out" >&2 2>/dev/null || true
            cmd_stop "$DIR" >/dev/null 2>&1 || true
            kill -TERM "$launcher" 2>/dev/null || true
            exit 1
        fi
        sleep 0.5
    done
    print_urls
}

cmd_stop() {
    setup "${1:-}"
    node_env
    if alive; then
        # shutdown waits until the node has exited (about 8 s); stop would return before.
        "$SBIN/rabbitmqctl" -n "$NODE" shutdown >/dev/null 2>&1 || {
            kill -TERM "$(<"$PID_FILE")" 2>/dev/null || true
        }
    fi
    rm -f "$PID_FILE"
    # epmd outlives the broker; it refuses -kill while another node is registered, which is what we want.
    local epmd
    epmd=$(command -v epmd || echo /usr/lib/erlang/bin/epmd)
    "$epmd" -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
}

cmd_status() {
    setup "${1:-}"
    if running; then print_urls; else log "not running in $DIR"; exit 3; fi
}

case ${1:-} in
    start | stop | status) command=$1; shift; "cmd_$command" "$@" ;;
    *) usage ;;
esac
