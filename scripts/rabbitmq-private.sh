#!/usr/bin/env bash
# rabbitmq-private.sh - start/stop a private, unprivileged RabbitMQ broker
# (no systemd, no Docker) for tests, CI and demos.
#
# Usage:
#   rabbitmq-private.sh start  DIR [--name NAME] [--amqp-port N] [--mgmt-port N]
#                                  [--dist-port N] [--epmd-port N] [--timeout SECONDS]
#   rabbitmq-private.sh stop   DIR [--timeout SECONDS]
#   rabbitmq-private.sh status DIR
#   rabbitmq-private.sh env    DIR
#
# DIR holds everything that belongs to one broker:
#   DIR/broker.env          chosen name and ports; reused by stop/status/env and
#                           by a later `start DIR` (same name => same data)
#   DIR/home/.erlang.cookie private HOME and Erlang cookie (mode 0400)
#   DIR/etc/                rabbitmq.conf, enabled_plugins, empty rabbitmq-env.conf,
#                           conf.d/*.conf (yours: loaded after rabbitmq.conf)
#   DIR/mnesia/             node data (durable queues, persistent messages)
#   DIR/log/                NODE.log, console.log (stdout/stderr of the server)
#   DIR/run/                pid files
#
# Ports: N is a number, or 0/auto for a free port. Defaults on a first start:
# AMQP 5672, management 15672, dist AMQP+20000, epmd 14369+(AMQP-5672) - a
# private epmd, never the system one on 4369. With an auto AMQP port, dist and
# epmd are auto too. A later start reuses the saved ports; options given then
# override them (the name cannot change: the data directory is keyed by it).
#
# On success `start` prints exactly two lines on stdout:
#   AMQP_URL=amqp://guest:guest@127.0.0.1:PORT/
#   MANAGEMENT_URL=http://127.0.0.1:MGMTPORT/
# Everything else goes to stderr.
#
# Exit codes: 0 ok; 1 failure / not running; 2 RabbitMQ or a tool is missing;
# 64 usage error.
#
# Environment knobs (optional):
#   RABBITMQ_PRIVATE_SBIN  directory with rabbitmq-server/rabbitmqctl
#                          (default /usr/lib/rabbitmq/bin)

set -euo pipefail

PROG=${0##*/}

# The real scripts, not the /usr/sbin wrappers: those switch to the
# `rabbitmq` user when run as root, which changes HOME and therefore the
# Erlang cookie, so the CLI could no longer talk to our node.
SBIN=${RABBITMQ_PRIVATE_SBIN:-/usr/lib/rabbitmq/bin}

DEFAULT_AMQP_PORT=5672
DEFAULT_MGMT_PORT=15672
DEFAULT_TIMEOUT=90
# Auto ports are drawn below the kernel's ephemeral range (32768+ on Linux),
# so an outgoing connection cannot grab the port between our pick and the
# broker's bind.
AUTO_PORT_MIN=20000
AUTO_PORT_MAX=32767
# rabbitmqctl itself listens on 35672-35682 (RABBITMQ_CTL_DIST_PORT_MIN/MAX);
# never hand those to a broker.
CLI_DIST_MIN=35672
CLI_DIST_MAX=35682

# ---------------------------------------------------------------- helpers --

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

die() {
    # die CODE MESSAGE...
    local code=$1
    shift
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit "$code"
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit "${1:-64}"
}

now_ms() { date +%s%3N; }

elapsed() {
    # elapsed START_MS -> "12.3"
    local ms=$(($(now_ms) - $1))
    printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# A pid counts as alive only if it exists and is not a zombie: with no
# reaping init (containers, CI), a dead broker lingers as a zombie and
# `kill -0` would still succeed.
proc_alive() {
    local pid=$1 stat state
    is_uint "$pid" || return 1
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    state=${stat%% *}
    [[ $state != Z && $state != X ]]
}

# Field 22 of /proc/PID/stat: start time in clock ticks since boot. Stored
# next to a pid so a recycled pid is never mistaken for our process.
proc_starttime() {
    local pid=$1 stat
    local -a f
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    printf '%s\n' "${f[19]}"
}

# Close every inherited fd above 2 (notably our flock on DIR/.lock): a
# long-lived broker or epmd holding it would block every later stop/start,
# and one holding a caller's pipe would hang `$(rabbitmq-private.sh ...)`.
close_extra_fds() {
    local entry fd
    for entry in /proc/"$BASHPID"/fd/*; do
        fd=${entry##*/}
        if is_uint "$fd" && ((fd > 2)); then
            exec {fd}>&- 2>/dev/null || true
        fi
    done
}

# A port is taken if something accepts on 127.0.0.1:PORT. Wildcard and
# loopback listeners (the only ones that clash with our loopback binds) both
# answer there. Pure bash, so python/ss are not required.
port_listening() {
    # shellcheck disable=SC2016  # expanded by the child bash, on purpose
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Is an epmd answering on PORT? Sharing or reusing an epmd is harmless (it is
# only a name registry), so such a port is not "taken" for our epmd.
epmd_answers() {
    local out
    out=$(timeout 3 "$EPMD" -port "$1" -names 2>/dev/null) || return 1
    [[ $out == "epmd: up and running"* ]]
}

# Ports chosen so far in this run, so that auto picks never collide with them.
declare -a CHOSEN_PORTS=()

port_excluded() {
    local p=$1 c
    ((p >= CLI_DIST_MIN && p <= CLI_DIST_MAX)) && return 0
    for c in 4369 5672 15672 25672 "${CHOSEN_PORTS[@]}"; do
        [[ $p == "$c" ]] && return 0
    done
    return 1
}

pick_free_port() {
    local span=$((AUTO_PORT_MAX - AUTO_PORT_MIN + 1)) try p
    for ((try = 0; try < 500; try++)); do
        p=$((AUTO_PORT_MIN + ((RANDOM << 15) | RANDOM) % span))
        port_excluded "$p" && continue
        port_listening "$p" && continue
        printf '%s\n' "$p"
        return 0
    done
    die 1 "could not find a free port in $AUTO_PORT_MIN-$AUTO_PORT_MAX"
}

describe_port_owner() {
    # Best effort: show who listens, to make a clash easy to fix.
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | sed 's/^/    /' >&2 || true
    fi
}

# ------------------------------------------------------------ dependencies --

EPMD=
CTL=

check_dependencies() {
    if [[ ! -x $SBIN/rabbitmq-server || ! -x $SBIN/rabbitmqctl ]]; then
        printf '%s: error: RabbitMQ is not installed (%s/rabbitmq-server not found).\n' "$PROG" "$SBIN" >&2
        printf '  Install it with:  apt-get install -y rabbitmq-server\n' >&2
        printf '  (the package does not need to run as a service; this script runs its own node)\n' >&2
        exit 2
    fi
    CTL=$SBIN/rabbitmqctl
    EPMD=$(command -v epmd 2>/dev/null || true)
    if [[ -z $EPMD ]]; then
        local e
        for e in /usr/lib/erlang/bin/epmd /usr/lib/erlang/erts-*/bin/epmd; do
            [[ -x $e ]] && EPMD=$e && break
        done
    fi
    [[ -n $EPMD ]] || die 2 "epmd (Erlang) not found; install it with: apt-get install -y rabbitmq-server"
    local tool
    for tool in curl setsid timeout flock; do
        command -v "$tool" >/dev/null 2>&1 ||
            die 2 "'$tool' not found; install it with: apt-get install -y curl util-linux coreutils"
    done
}

# ------------------------------------------------------------------ state --

DIR=
NODE=
AMQP_PORT=
AMQP_PORT_AUTO=0
MGMT_PORT=
MGMT_PORT_AUTO=0
DIST_PORT=
EPMD_PORT=

set_dir() {
    local d=$1
    [[ -n $d ]] || usage
    # Paths end up unquoted inside RabbitMQ's sh scripts, Erlang terms and a
    # config glob; keep them to a safe character set rather than half-work.
    [[ $d =~ ^[A-Za-z0-9._/+-]+$ ]] ||
        die 64 "DIR '$d' may only contain letters, digits and . _ / + - (no spaces or quotes)"
    if [[ ${CMD} == start ]]; then
        mkdir -p -- "$d"
    fi
    if [[ -d $d ]]; then
        DIR=$(cd -- "$d" && pwd -P)
    else
        DIR=$d
    fi
    [[ $DIR =~ ^[A-Za-z0-9._/+-]+$ ]] ||
        die 64 "DIR resolves to '$DIR', which contains unsupported characters"
    STATE_FILE=$DIR/broker.env
    HOME_DIR=$DIR/home
    ETC_DIR=$DIR/etc
    LOG_DIR=$DIR/log
    RUN_DIR=$DIR/run
    MNESIA_DIR=$DIR/mnesia
    PID_FILE=$RUN_DIR/rabbitmq.pid
    LAUNCHER_FILE=$RUN_DIR/launcher.pid
    CONSOLE_LOG=$LOG_DIR/console.log
}

default_node_name() {
    local base hash
    base=${DIR##*/}
    base=${base,,}
    base=${base//[^a-z0-9_-]/-}
    base=${base:0:24}
    [[ -n $base ]] || base=broker
    # The hash keeps two DIRs with the same basename (e.g. .../a/rmq and
    # .../b/rmq) apart; cksum is POSIX, so always present.
    hash=$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
    printf 'akidb-%s-%06x\n' "$base" $((hash % 16777216))
}

normalize_node_name() {
    local n=$1
    [[ $n == *@* ]] || n="$n@localhost"
    [[ $n =~ ^[A-Za-z0-9_-]+@[A-Za-z0-9.-]+$ ]] ||
        die 64 "invalid node name '$1' (use letters, digits, _ and -)"
    printf '%s\n' "$n"
}

# broker.env is parsed, not sourced: only known keys with plain values.
load_state() {
    SAVED_NODE='' SAVED_AMQP_PORT='' SAVED_AMQP_PORT_AUTO='' SAVED_MGMT_PORT=''
    SAVED_MGMT_PORT_AUTO='' SAVED_DIST_PORT='' SAVED_EPMD_PORT=''
    [[ -f $STATE_FILE ]] || return 1
    local key value
    while IFS='=' read -r key value; do
        case $key in
            NODE) SAVED_NODE=$value ;;
            AMQP_PORT) SAVED_AMQP_PORT=$value ;;
            AMQP_PORT_AUTO) SAVED_AMQP_PORT_AUTO=$value ;;
            MGMT_PORT) SAVED_MGMT_PORT=$value ;;
            MGMT_PORT_AUTO) SAVED_MGMT_PORT_AUTO=$value ;;
            DIST_PORT) SAVED_DIST_PORT=$value ;;
            EPMD_PORT) SAVED_EPMD_PORT=$value ;;
        esac
    done <"$STATE_FILE"
    local p
    for p in "$SAVED_AMQP_PORT" "$SAVED_MGMT_PORT" "$SAVED_DIST_PORT" "$SAVED_EPMD_PORT"; do
        is_uint "$p" || die 1 "$STATE_FILE is damaged (bad port '$p'); fix or delete it"
    done
    [[ -n $SAVED_NODE ]] || die 1 "$STATE_FILE is damaged (no NODE); fix or delete it"
    return 0
}

# For stop/status/env: the saved state is the whole truth.
use_saved_state() {
    NODE=$SAVED_NODE
    AMQP_PORT=$SAVED_AMQP_PORT
    MGMT_PORT=$SAVED_MGMT_PORT
    DIST_PORT=$SAVED_DIST_PORT
    EPMD_PORT=$SAVED_EPMD_PORT
    AMQP_PORT_AUTO=${SAVED_AMQP_PORT_AUTO:-0}
    MGMT_PORT_AUTO=${SAVED_MGMT_PORT_AUTO:-0}
}

amqp_url() { printf 'amqp://guest:guest@127.0.0.1:%s/\n' "$AMQP_PORT"; }
mgmt_url() { printf 'http://127.0.0.1:%s/\n' "$MGMT_PORT"; }

save_state() {
    local tmp=$STATE_FILE.tmp.$$
    cat >"$tmp" <<EOF
# Written by $PROG; reused by stop/status/env and by later starts of this DIR.
NODE=$NODE
AMQP_PORT=$AMQP_PORT
AMQP_PORT_AUTO=$AMQP_PORT_AUTO
MGMT_PORT=$MGMT_PORT
MGMT_PORT_AUTO=$MGMT_PORT_AUTO
DIST_PORT=$DIST_PORT
EPMD_PORT=$EPMD_PORT
AMQP_URL=$(amqp_url)
MANAGEMENT_URL=$(mgmt_url)
EOF
    mv -f "$tmp" "$STATE_FILE"
}

# The environment the server *and every CLI call* need. Anything inherited
# that starts with RABBITMQ_ or ERL_ is dropped first (see main), so a CI
# job's own RABBITMQ_NODENAME or ERL_FLAGS cannot leak into our node.
declare -a NODE_ENV=()
build_node_env() {
    NODE_ENV=(
        "HOME=$HOME_DIR"
        "RABBITMQ_CONF_ENV_FILE=$ETC_DIR/rabbitmq-env.conf"
        "RABBITMQ_NODENAME=$NODE"
        "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
        "RABBITMQ_NODE_PORT=$AMQP_PORT"
        "RABBITMQ_DIST_PORT=$DIST_PORT"
        "ERL_EPMD_PORT=$EPMD_PORT"
        "ERL_EPMD_ADDRESS=127.0.0.1"
        "RABBITMQ_MNESIA_BASE=$MNESIA_DIR"
        "RABBITMQ_LOG_BASE=$LOG_DIR"
        "RABBITMQ_PID_FILE=$PID_FILE"
        "RABBITMQ_ENABLED_PLUGINS_FILE=$ETC_DIR/enabled_plugins"
        "RABBITMQ_CONFIG_FILE=$ETC_DIR/rabbitmq.conf"
        # Without these two, /etc/rabbitmq/conf.d/*.conf and
        # /etc/rabbitmq/advanced.config of the machine would still be read.
        "RABBITMQ_CONFIG_FILES=$ETC_DIR/conf.d/*.conf"
        "RABBITMQ_ADVANCED_CONFIG_FILE=$ETC_DIR/advanced.config"
        # Erlang distribution on loopback only; the default is all interfaces.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
        "ERL_CRASH_DUMP=$LOG_DIR/erl_crash.dump"
    )
}

apply_node_env() {
    build_node_env
    export "${NODE_ENV[@]}"
}

# ---------------------------------------------------------- process state --

# The beam pid from RabbitMQ's own pid file, if that process is alive and
# really ours: its command line carries `-home DIR/home`.
beam_pid() {
    local pid cmdline
    [[ -f $PID_FILE ]] || return 1
    pid=$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null) || return 1
    proc_alive "$pid" || return 1
    # Captured first: `tr | grep -q` under pipefail fails whenever grep
    # quits before tr has written everything.
    cmdline=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    grep -qxF -- "$HOME_DIR" <<<"$cmdline" || return 1
    printf '%s\n' "$pid"
}

# The launcher (RabbitMQ's sh wrapper, session leader of the broker's
# process group), checked against its recorded start time.
launcher_pid() {
    local pid start
    [[ -f $LAUNCHER_FILE ]] || return 1
    read -r pid start <"$LAUNCHER_FILE" || true
    proc_alive "$pid" || return 1
    [[ -z ${start:-} || $(proc_starttime "$pid") == "$start" ]] || return 1
    printf '%s\n' "$pid"
}

broker_alive() { beam_pid >/dev/null || launcher_pid >/dev/null; }

# AMQP really answers: send the protocol header and expect the first byte of
# a method frame (Connection.Start). A bare TCP accept is not enough.
amqp_ready() {
    # shellcheck disable=SC2016  # expanded by the child bash, on purpose
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "AMQP\x00\x00\x09\x01" >&3
        b=$(head -c 1 <&3 | od -An -tu1)
        exec 3>&-
        [[ ${b// /} == 1 ]]' _ "$AMQP_PORT" 2>/dev/null
}

# The management API answers *for our node* (not some other broker that
# happens to sit on the port).
mgmt_ready() {
    local body
    body=$(curl -fsS --max-time 5 -u guest:guest "$(mgmt_url)api/overview" 2>/dev/null) || return 1
    grep -q "\"node\": *\"$NODE\"" <<<"$body"
}

# -------------------------------------------------------------- epmd ------

start_epmd() {
    if epmd_answers "$EPMD_PORT"; then
        log "reusing the epmd already running on port $EPMD_PORT"
        return 0
    fi
    (
        trap - PIPE
        close_extra_fds
        cd /
        exec "$EPMD" -port "$EPMD_PORT" -address 127.0.0.1 -daemon
    ) </dev/null >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < 50; i++)); do
        epmd_answers "$EPMD_PORT" && return 0
        sleep 0.1
    done
    die 1 "private epmd did not come up on port $EPMD_PORT"
}

# epmd outlives the broker. `epmd -kill` refuses while any node is still
# registered, so a shared epmd whose other node lives is left alone.
stop_epmd() {
    local i out
    epmd_answers "$EPMD_PORT" || return 0
    for ((i = 0; i < 30; i++)); do
        out=$(timeout 3 "$EPMD" -port "$EPMD_PORT" -kill 2>&1 || true)
        if ! epmd_answers "$EPMD_PORT"; then
            return 0
        fi
        # Our node may take a moment to drop its registration after exit.
        sleep 0.2
    done
    log "warning: epmd on port $EPMD_PORT still runs (${out:-no answer}); other nodes are registered:"
    timeout 3 "$EPMD" -port "$EPMD_PORT" -names >&2 2>&1 || true
}

# ------------------------------------------------------------------ files --

write_files() {
    mkdir -p "$HOME_DIR" "$ETC_DIR/conf.d" "$LOG_DIR" "$RUN_DIR" "$MNESIA_DIR"
    chmod 0700 "$HOME_DIR"
    local cookie=$HOME_DIR/.erlang.cookie
    if [[ ! -s $cookie ]]; then
        # 40 random hex digits; written through a temp file so a crash
        # never leaves a half-written cookie.
        local c
        c=$(od -An -tx1 -N 20 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F')
        [[ ${#c} == 40 ]] || die 1 "could not generate an Erlang cookie"
        rm -f "$cookie.tmp"
        (umask 077 && printf '%s' "$c" >"$cookie.tmp")
        mv -f "$cookie.tmp" "$cookie"
    fi
    # Erlang refuses a cookie readable by others - and the server script
    # still exits 0 in that case. Always enforce 0400.
    chmod 0400 "$cookie"

    # Empty on purpose: it replaces /etc/rabbitmq/rabbitmq-env.conf.
    : >"$ETC_DIR/rabbitmq-env.conf"
    printf '[rabbitmq_management].\n' >"$ETC_DIR/enabled_plugins"
    cat >"$ETC_DIR/rabbitmq.conf" <<EOF
# Generated by $PROG on every start; put your own settings in conf.d/*.conf.
management.tcp.port = $MGMT_PORT
management.tcp.ip = 127.0.0.1
# Stated explicitly: test runners are often short on disk, and a disk alarm
# silently blocks every publisher.
disk_free_limit.absolute = 50MB
# The file log (log/$NODE.log) is enough; do not duplicate it on stdout.
log.console = false
# Queue depths and rates in the management UI and API refresh every second
# instead of every five: people watch a queue drain, tests wait for counts.
collect_statistics_interval = 1000
EOF
}

# ------------------------------------------------------------- port logic --

# resolve_port KIND OPTION_VALUE SAVED SAVED_AUTO DEFAULT STRICT_DEFAULT
# Sets RESOLVED_PORT and RESOLVED_AUTO.
#   explicit N          -> N, must be free
#   auto/0              -> saved port if this DIR has one and it is free,
#                          else a fresh free port
#   (none), saved       -> saved port; if taken: re-pick when it was auto,
#                          fail when it was explicit
#   (none), first start -> DEFAULT; if taken: fail (STRICT_DEFAULT=1) or
#                          pick a free one
resolve_port() {
    local kind=$1 opt=$2 saved=$3 saved_auto=$4 default=$5 strict_default=$6
    RESOLVED_AUTO=0
    if [[ -n $opt && $opt != auto && $opt != 0 ]]; then
        RESOLVED_PORT=$opt
        check_port_free "$kind" "$RESOLVED_PORT" strict
    elif [[ $opt == auto || $opt == 0 ]]; then
        RESOLVED_AUTO=1
        if [[ -n $saved ]] && check_port_free "$kind" "$saved" soft; then
            RESOLVED_PORT=$saved
        else
            RESOLVED_PORT=$(pick_free_port)
        fi
    elif [[ -n $saved ]]; then
        RESOLVED_AUTO=${saved_auto:-0}
        RESOLVED_PORT=$saved
        if ! check_port_free "$kind" "$saved" soft; then
            if [[ $RESOLVED_AUTO == 1 ]]; then
                RESOLVED_PORT=$(pick_free_port)
                log "warning: saved $kind port $saved is taken; using $RESOLVED_PORT instead"
            else
                check_port_free "$kind" "$saved" strict
            fi
        fi
    else
        RESOLVED_PORT=$default
        if ((RESOLVED_PORT < 1 || RESOLVED_PORT > 65535)) || port_excluded_for_default "$RESOLVED_PORT" ||
            ! check_port_free "$kind" "$RESOLVED_PORT" soft; then
            if [[ $strict_default == 1 ]]; then
                check_port_free "$kind" "$RESOLVED_PORT" strict
            fi
            RESOLVED_AUTO=1
            RESOLVED_PORT=$(pick_free_port)
        fi
    fi
    CHOSEN_PORTS+=("$RESOLVED_PORT")
}

# Defaults derived from another port must still not hit a port already chosen
# in this run or the CLI's range.
port_excluded_for_default() {
    local p=$1 c
    ((p >= CLI_DIST_MIN && p <= CLI_DIST_MAX)) && return 0
    for c in "${CHOSEN_PORTS[@]}"; do
        [[ $p == "$c" ]] && return 0
    done
    return 1
}

# check_port_free KIND PORT soft|strict
check_port_free() {
    local kind=$1 port=$2 mode=$3
    local dup=0 c
    for c in "${CHOSEN_PORTS[@]}"; do
        [[ $port == "$c" ]] && dup=1
    done
    if ((dup)); then
        [[ $mode == soft ]] && return 1
        die 64 "$kind port $port is already used for another port of this broker"
    fi
    port_listening "$port" || return 0
    # An epmd is a registry that may be shared; reuse it.
    if [[ $kind == epmd ]] && epmd_answers "$port"; then
        return 0
    fi
    [[ $mode == soft ]] && return 1
    log "$kind port $port is already in use on 127.0.0.1:"
    describe_port_owner "$port"
    die 1 "pick another port (e.g. --${kind}-port auto) or stop whatever listens there"
}

validate_port_option() {
    local name=$1 value=$2
    [[ -z $value || $value == auto ]] && return 0
    if ! is_uint "$value" || ((10#$value > 65535)); then
        die 64 "--$name must be a port number (1-65535), 0 or auto, not '$value'"
    fi
    if ((10#$value > 0 && 10#$value < 1024 && EUID != 0)); then
        die 64 "--$name $value is a privileged port; use 1024 or above"
    fi
}

# ------------------------------------------------------------ diagnostics --

LOG_OFFSET_NODE=0
LOG_OFFSET_CONSOLE=0

remember_log_offsets() {
    LOG_OFFSET_NODE=$(stat -c %s "$LOG_DIR/$NODE.log" 2>/dev/null || echo 0)
    LOG_OFFSET_CONSOLE=$(stat -c %s "$CONSOLE_LOG" 2>/dev/null || echo 0)
}

# Only what this start attempt wrote: the logs are appended across restarts.
print_log_tail() {
    local f off new
    for f in "$CONSOLE_LOG" "$LOG_DIR/$NODE.log"; do
        [[ -s $f ]] || continue
        if [[ $f == "$CONSOLE_LOG" ]]; then off=$LOG_OFFSET_CONSOLE; else off=$LOG_OFFSET_NODE; fi
        new=$(tail -c +"$((off + 1))" "$f" 2>/dev/null || true)
        [[ -n ${new//[[:space:]]/} ]] || continue
        # The cause is usually in the first errors (e.g. "Conf file attempted
        # to set unknown variable"), the tail is mostly a crash report.
        # Lines are cut: Erlang error terms can be tens of kilobytes long.
        if grep -q '\[error\]' <<<"$new"; then
            printf '%s: ---- first errors in %s ----\n' "$PROG" "$f" >&2
            grep -m 8 '\[error\]' <<<"$new" | cut -c1-400 >&2 || true
        fi
        printf '%s: ---- last lines of %s ----\n' "$PROG" "$f" >&2
        tail -n 30 <<<"$new" | cut -c1-400 >&2 || true
    done
    if [[ -s $LOG_DIR/erl_crash.dump ]]; then
        printf '%s: ---- Erlang crash dump: %s (slogan below) ----\n' "$PROG" "$LOG_DIR/erl_crash.dump" >&2
        grep -m1 '^Slogan' "$LOG_DIR/erl_crash.dump" | cut -c1-400 >&2 || true
    fi
}

# Did this start attempt lose a port to someone else between our check and
# the broker's bind? (AMQP/management: eaddrinuse; Erlang dist: RabbitMQ's
# own pre-check reports dist_port_already_used.)
port_clash_logged() {
    local f off new
    for f in "$CONSOLE_LOG" "$LOG_DIR/$NODE.log"; do
        [[ -s $f ]] || continue
        if [[ $f == "$CONSOLE_LOG" ]]; then off=$LOG_OFFSET_CONSOLE; else off=$LOG_OFFSET_NODE; fi
        # Captured, not piped into grep -q (see beam_pid).
        new=$(tail -c +"$((off + 1))" "$f" 2>/dev/null) || continue
        if grep -qE 'eaddrinuse|dist_port_already_used' <<<"$new"; then
            return 0
        fi
    done
    return 1
}

# ----------------------------------------------------------- kill / wait ---

# Every live process of this broker: the verified beam, plus the members of
# the launcher's process group whose environment has our private HOME. The
# double check keeps us from ever signalling a stranger that inherited a
# recycled pid or pgid. (Not a global scan by HOME: a user's shell after
# `eval "$(... env DIR)"` has that HOME too.)
broker_pids() {
    local bpid pgid entry pid stat env
    local -a f
    bpid=$(beam_pid || true)
    [[ -n $bpid ]] && printf '%s\n' "$bpid"
    [[ -f $LAUNCHER_FILE ]] || return 0
    read -r pgid _ <"$LAUNCHER_FILE" || true
    is_uint "${pgid:-}" || return 0
    for entry in /proc/[0-9]*; do
        pid=${entry#/proc/}
        [[ $pid == "$bpid" ]] && continue
        # `read`, not `cat`: this loop runs over every pid several times a
        # second while we wait, and must not fork per process.
        { read -r stat <"$entry/stat"; } 2>/dev/null || continue
        stat=${stat##*) }
        read -r -a f <<<"$stat"
        [[ ${f[2]} == "$pgid" && ${f[0]} != Z && ${f[0]} != X ]] || continue
        env=$(tr '\0' '\n' <"$entry/environ" 2>/dev/null) || continue
        grep -qxF -- "HOME=$HOME_DIR" <<<"$env" && printf '%s\n' "$pid"
    done
    return 0
}

# wait_broker_gone SECONDS -> 0 once no process of this broker is left
wait_broker_gone() {
    local deadline=$(($(now_ms) + $1 * 1000))
    while [[ -n $(broker_pids) ]]; do
        (($(now_ms) >= deadline)) && return 1
        sleep 0.2
    done
}

signal_broker() {
    local sig=$1 pid
    for pid in $(broker_pids); do
        kill "-$sig" "$pid" 2>/dev/null || true
    done
}

# Hard stop, used when a start fails or a graceful shutdown did not work.
# SIGTERM first (RabbitMQ and its sh launcher treat it as a clean stop),
# SIGKILL after a grace period.
kill_broker() {
    local grace=${1:-20}
    if [[ -n $(broker_pids) ]]; then
        signal_broker TERM
        if ! wait_broker_gone "$grace"; then
            log "broker did not exit after SIGTERM; sending SIGKILL"
            signal_broker KILL
            wait_broker_gone 10 || log "warning: still alive: $(broker_pids | tr '\n' ' ')"
        fi
    fi
    rm -f "$PID_FILE" "$LAUNCHER_FILE"
}

# ---------------------------------------------------------------- locking --

# One operation per DIR at a time (two `start DIR` racing would launch two
# nodes on the same data). The fd is closed in everything long-lived.
lock_dir() {
    local wait_s=$1
    exec {LOCK_FD}>>"$DIR/.lock"
    flock -w "$wait_s" "$LOCK_FD" || die 1 "another $PROG operation holds $DIR/.lock"
}

# --------------------------------------------------------------- commands --

cmd_start() {
    local opt_name='' opt_amqp='' opt_mgmt='' opt_dist='' opt_epmd='' timeout=$DEFAULT_TIMEOUT dir=''
    while (($#)); do
        case $1 in
            --name) opt_name=${2:?--name needs a value}; shift 2 ;;
            --name=*) opt_name=${1#*=}; shift ;;
            --amqp-port) opt_amqp=${2:?--amqp-port needs a value}; shift 2 ;;
            --amqp-port=*) opt_amqp=${1#*=}; shift ;;
            --mgmt-port) opt_mgmt=${2:?--mgmt-port needs a value}; shift 2 ;;
            --mgmt-port=*) opt_mgmt=${1#*=}; shift ;;
            --dist-port) opt_dist=${2:?--dist-port needs a value}; shift 2 ;;
            --dist-port=*) opt_dist=${1#*=}; shift ;;
            --epmd-port) opt_epmd=${2:?--epmd-port needs a value}; shift 2 ;;
            --epmd-port=*) opt_epmd=${1#*=}; shift ;;
            --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
            --timeout=*) timeout=${1#*=}; shift ;;
            -h | --help) usage 0 ;;
            -*) die 64 "unknown option '$1' (see --help)" ;;
            *)
                [[ -z $dir ]] || die 64 "unexpected argument '$1'"
                dir=$1
                shift
                ;;
        esac
    done
    [[ -n $dir ]] || die 64 "start needs a DIR"
    if ! is_uint "$timeout" || ((timeout == 0)); then
        die 64 "--timeout must be a positive number of seconds"
    fi
    local o want have
    for o in "amqp-port:$opt_amqp" "mgmt-port:$opt_mgmt" "dist-port:$opt_dist" "epmd-port:$opt_epmd"; do
        validate_port_option "${o%%:*}" "${o#*:}"
    done
    # Normalise numbers (e.g. 05672) and 0 -> auto.
    for o in opt_amqp opt_mgmt opt_dist opt_epmd; do
        if is_uint "${!o}"; then
            printf -v "$o" '%d' "$((10#${!o}))"
            [[ ${!o} == 0 ]] && printf -v "$o" 'auto'
        fi
    done

    check_dependencies
    set_dir "$dir"
    local t0
    t0=$(now_ms)
    # A caller that stops reading our stderr (`... 2>&1 | head`) must turn
    # into an ordinary error that runs the clean-up, not a silent SIGPIPE
    # death that leaves a half-started broker. Children get SIGPIPE back.
    trap '' PIPE
    lock_dir "$timeout"

    local have_state=0
    if load_state; then have_state=1; fi

    # The node name is sticky: RabbitMQ keys its data directory by it.
    if ((have_state)); then
        NODE=$SAVED_NODE
        if [[ -n $opt_name ]] && [[ $(normalize_node_name "$opt_name") != "$NODE" ]]; then
            die 64 "$DIR belongs to node $NODE; a different --name would not see its data (use another DIR)"
        fi
    elif [[ -n $opt_name ]]; then
        NODE=$(normalize_node_name "$opt_name")
    else
        NODE=$(normalize_node_name "$(default_node_name)")
    fi

    # Idempotent start: a running broker of this DIR is reused as it is.
    if ((have_state)); then
        use_saved_state
        apply_node_env
        if broker_alive; then
            log "broker $NODE in $DIR is already running; waiting until it is ready"
            local pair
            for pair in "amqp:$opt_amqp:$AMQP_PORT" "mgmt:$opt_mgmt:$MGMT_PORT" \
                "dist:$opt_dist:$DIST_PORT" "epmd:$opt_epmd:$EPMD_PORT"; do
                IFS=: read -r o want have <<<"$pair"
                if is_uint "$want" && [[ $want != "$have" ]]; then
                    log "warning: ignoring --$o-port $want: the running broker uses $have (stop it first to change ports)"
                fi
            done
            if wait_ready "$t0" "$timeout" existing; then
                log "ready"
                printf 'AMQP_URL=%s\n' "$(amqp_url)"
                printf 'MANAGEMENT_URL=%s\n' "$(mgmt_url)"
                return 0
            fi
            die 1 "broker $NODE in $DIR runs but is not ready after ${timeout}s; try: $0 stop $DIR"
        fi
        # Leftovers of a crashed run: a dead pid file must not fool anyone.
        rm -f "$PID_FILE" "$LAUNCHER_FILE"
    fi

    # ---- ports
    resolve_port amqp "$opt_amqp" "$SAVED_AMQP_PORT" "$SAVED_AMQP_PORT_AUTO" "$DEFAULT_AMQP_PORT" 1
    AMQP_PORT=$RESOLVED_PORT AMQP_PORT_AUTO=$RESOLVED_AUTO
    resolve_port mgmt "$opt_mgmt" "$SAVED_MGMT_PORT" "$SAVED_MGMT_PORT_AUTO" "$DEFAULT_MGMT_PORT" 1
    MGMT_PORT=$RESOLVED_PORT MGMT_PORT_AUTO=$RESOLVED_AUTO

    # dist/epmd are internal: derive them from the AMQP port when it was
    # chosen by hand (stable, predictable), pick free ones when AMQP is auto,
    # and quietly re-pick a saved one that has become taken.
    local dist_default epmd_default
    if ((AMQP_PORT_AUTO)); then
        dist_default=0 epmd_default=0
    else
        dist_default=$((AMQP_PORT + 20000))
        epmd_default=$((14369 + AMQP_PORT - DEFAULT_AMQP_PORT))
    fi
    resolve_port dist "$opt_dist" "$SAVED_DIST_PORT" 1 "$dist_default" 0
    DIST_PORT=$RESOLVED_PORT
    resolve_port epmd "$opt_epmd" "$SAVED_EPMD_PORT" 1 "$epmd_default" 0
    EPMD_PORT=$RESOLVED_PORT

    local attempt rc
    for ((attempt = 1; ; attempt++)); do
        write_files
        save_state
        apply_node_env

        log "starting $NODE in $DIR (amqp $AMQP_PORT, management $MGMT_PORT, dist $DIST_PORT, epmd $EPMD_PORT)"
        launch_broker

        rc=0
        wait_ready "$t0" "$timeout" new || rc=$?
        if ((rc == 0)); then
            STARTING=0
            log "ready in $(elapsed "$t0")s"
            printf 'AMQP_URL=%s\n' "$(amqp_url)"
            printf 'MANAGEMENT_URL=%s\n' "$(mgmt_url)"
            return 0
        fi
        # Brokers started side by side draw auto ports independently; a
        # rare collision (or any other process binding the port meanwhile)
        # is retried with fresh auto ports instead of failing the test run.
        if ((rc == 3 && attempt < 3)); then
            kill_broker 20
            stop_epmd
            if repick_auto_ports "$opt_dist" "$opt_epmd"; then
                log "retrying with fresh ports (attempt $((attempt + 1)) of 3)"
                continue
            fi
        fi
        # wait_ready explained why; the EXIT trap cleans up.
        exit 1
    done
}

# repick_auto_ports DIST_OPTION EPMD_OPTION -> 0 if at least one port changed
# Only ports that nobody asked for by number are changed.
repick_auto_ports() {
    local any=1
    if ((AMQP_PORT_AUTO)); then
        AMQP_PORT=$(pick_free_port) && CHOSEN_PORTS+=("$AMQP_PORT") && any=0
    fi
    if ((MGMT_PORT_AUTO)); then
        MGMT_PORT=$(pick_free_port) && CHOSEN_PORTS+=("$MGMT_PORT") && any=0
    fi
    if ! is_uint "$1"; then
        DIST_PORT=$(pick_free_port) && CHOSEN_PORTS+=("$DIST_PORT") && any=0
    fi
    if ! is_uint "$2"; then
        EPMD_PORT=$(pick_free_port) && CHOSEN_PORTS+=("$EPMD_PORT") && any=0
    fi
    return "$any"
}

STARTING=0

# Cleans up a start that did not reach "ready" - timeout, crash, Ctrl-C or an
# unexpected error - so no half-started broker or epmd is left behind.
on_start_exit() {
    local rc=$?
    if ((STARTING)); then
        STARTING=0
        # Finish the clean-up whatever happens now: no errexit, and a second
        # Ctrl-C or a closed stderr must not leave a broker or epmd behind.
        set +e
        trap '' INT TERM HUP PIPE
        local diag
        diag=$(print_log_tail 2>&1)
        log "start failed; stopping what was started"
        kill_broker 20
        stop_epmd
        [[ -n $diag ]] && printf '%s\n' "$diag" >&2
        ((rc != 0)) || rc=1
    fi
    exit "$rc"
}

launch_broker() {
    remember_log_offsets
    rm -f "$PID_FILE" "$LAUNCHER_FILE" "$LOG_DIR/erl_crash.dump"
    STARTING=1
    trap on_start_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP

    start_epmd
    printf '\n==== %s: start %s at %s ====\n' "$PROG" "$NODE" "$(date '+%F %T')" >>"$CONSOLE_LOG"
    # setsid: own session and process group, so the broker survives our exit
    # and the caller's terminal/CI step, and can be signalled as a group.
    # The child records its own pid (setsid may fork when the caller uses
    # job control, so $! is not reliable).
    (
        trap - PIPE
        close_extra_fds
        cd "$DIR"
        # shellcheck disable=SC2016  # expanded by the child bash, on purpose
        exec setsid bash -c 'printf "%s\n" "$$" >"$1.new" && mv -f "$1.new" "$1" && shift && exec "$@"' \
            _ "$LAUNCHER_FILE" "$SBIN/rabbitmq-server"
    ) </dev/null >>"$CONSOLE_LOG" 2>&1 &

    local i pid=
    for ((i = 0; i < 100; i++)); do
        if [[ -s $LAUNCHER_FILE ]]; then
            read -r pid <"$LAUNCHER_FILE" || true
            break
        fi
        sleep 0.05
    done
    is_uint "${pid:-}" || die 1 "the broker launcher did not start"
    # Pid plus start time: stop/status must never signal a recycled pid.
    local st
    st=$(proc_starttime "$pid" || true)
    printf '%s %s\n' "$pid" "$st" >"$LAUNCHER_FILE"
}

# wait_ready T0 TIMEOUT new|existing -> 0 ready, 1 failed, 3 port clash
# Ready = our beam alive + AMQP handshake answered + management API answers
# for our node. The server script's exit status is never trusted (a bad
# cookie mode makes the node die while the script reports success).
wait_ready() {
    local t0=$1 timeout=$2 kind=$3
    local deadline=$((t0 + timeout * 1000)) amqp_ok=0 amqp_at=
    while :; do
        # Checked first: after a clash the node takes many seconds to die.
        if [[ $kind == new ]] && port_clash_logged; then
            log "a port was taken by another process while the broker started (address in use)"
            return 3
        fi
        if ! broker_alive; then
            if [[ $kind == new ]]; then
                log "the broker exited during start-up after $(elapsed "$t0")s"
            else
                log "the broker exited while we waited for it"
            fi
            return 1
        fi
        if ((!amqp_ok)) && amqp_ready; then
            amqp_ok=1
            amqp_at=$(elapsed "$t0")
            log "AMQP accepts connections after ${amqp_at}s"
        fi
        if ((amqp_ok)) && mgmt_ready; then
            return 0
        fi
        if (($(now_ms) >= deadline)); then
            log "timed out after ${timeout}s (AMQP ready: $([[ $amqp_ok == 1 ]] && echo "yes" || echo "no"), management API: no)"
            return 1
        fi
        sleep 0.3
    done
}

cmd_stop() {
    local dir='' timeout=60
    while (($#)); do
        case $1 in
            --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
            --timeout=*) timeout=${1#*=}; shift ;;
            -h | --help) usage 0 ;;
            -*) die 64 "unknown option '$1'" ;;
            *)
                [[ -z $dir ]] || die 64 "unexpected argument '$1'"
                dir=$1
                shift
                ;;
        esac
    done
    [[ -n $dir ]] || die 64 "stop needs a DIR"
    if ! is_uint "$timeout" || ((timeout == 0)); then
        die 64 "--timeout must be a positive number of seconds"
    fi
    set_dir "$dir"
    if [[ ! -d $DIR ]] || ! load_state; then
        log "nothing to stop in $dir"
        return 0
    fi
    check_dependencies
    lock_dir "$timeout"
    use_saved_state
    apply_node_env
    local t0 bpid lpid
    t0=$(now_ms)
    bpid=$(beam_pid || true)
    lpid=$(launcher_pid || true)
    if [[ -z $bpid && -z $lpid ]]; then
        rm -f "$PID_FILE" "$LAUNCHER_FILE"
        stop_epmd
        log "$NODE is not running"
        return 0
    fi
    log "stopping $NODE"
    # `shutdown` (unlike `stop`) waits until the OS process has exited. The
    # launcher and helpers follow within moments.
    if [[ -n $bpid ]] && timeout "$timeout" "$CTL" -n "$NODE" shutdown >&2 2>&1 &&
        wait_broker_gone 15; then
        :
    else
        log "graceful shutdown did not finish; signalling the broker"
        kill_broker 30
    fi
    if ! wait_broker_gone 10; then
        die 1 "broker processes are still alive: $(broker_pids | tr '\n' ' ')"
    fi
    rm -f "$PID_FILE" "$LAUNCHER_FILE"
    stop_epmd
    log "stopped $NODE in $(elapsed "$t0")s"
}

cmd_status() {
    local dir=${1:-}
    [[ -n $dir && $# -eq 1 ]] || die 64 "usage: $PROG status DIR"
    set_dir "$dir"
    if [[ ! -d $DIR ]] || ! load_state; then
        echo "stopped"
        return 1
    fi
    use_saved_state
    if ! broker_alive; then
        echo "stopped"
        return 1
    fi
    # A plain TCP accept: cheap, and does not fill the broker's log with
    # aborted AMQP handshakes when polled.
    if port_listening "$AMQP_PORT"; then
        echo "running"
        return 0
    fi
    echo "starting"
    return 1
}

cmd_env() {
    local dir=${1:-}
    [[ -n $dir && $# -eq 1 ]] || die 64 "usage: $PROG env DIR"
    set_dir "$dir"
    if [[ ! -d $DIR ]] || ! load_state; then
        die 1 "no broker state in $dir (run: $PROG start $dir)"
    fi
    use_saved_state
    build_node_env
    # shellcheck disable=SC2016  # a literal $( ) for the reader to copy
    printf '# eval "$(%s env %s)"  - then e.g.: rabbitmqctl status\n' "$PROG" "$DIR"
    printf '# Note: this sets HOME to the broker'"'"'s private home (the Erlang cookie lives there).\n'
    local kv
    for kv in "${NODE_ENV[@]}"; do
        printf 'export %s=%s\n' "${kv%%=*}" "$(sh_quote "${kv#*=}")"
    done
    # The direct CLI first on PATH: /usr/sbin/rabbitmqctl would switch to
    # the rabbitmq user (as root) and lose our cookie.
    # shellcheck disable=SC2016  # $PATH is for the caller's shell to expand
    printf 'export PATH=%s:"$PATH"\n' "$(sh_quote "$SBIN")"
    printf 'export AMQP_URL=%s\n' "$(sh_quote "$(amqp_url)")"
    printf 'export MANAGEMENT_URL=%s\n' "$(sh_quote "$(mgmt_url)")"
}

# Single quotes: readable, and valid in sh as well as bash (printf %q is not).
sh_quote() {
    local q="'\\''"
    printf "'%s'" "${1//\'/$q}"
}

# ------------------------------------------------------------------- main --

# Inherited RabbitMQ/Erlang settings would override or leak into our node
# (e.g. RABBITMQ_NODENAME, ERL_FLAGS, ERL_LIBS); start from a clean slate.
while IFS= read -r var; do
    case $var in
        RABBITMQ_PRIVATE_*) ;;
        RABBITMQ_* | ERL_*) unset "$var" ;;
    esac
done < <(compgen -e)

CMD=${1:-}
[[ -n $CMD ]] || usage
shift
case $CMD in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    -h | --help | help) usage 0 ;;
    *) die 64 "unknown command '$CMD' (start|stop|status|env)" ;;
esac
