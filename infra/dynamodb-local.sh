#!/usr/bin/env bash
# DynamoDB Local for development and tests: install, start, stop, status. Idempotent.
#
#   bash infra/dynamodb-local.sh [start]   # install if needed, start if nothing answers, wait
#   bash infra/dynamodb-local.sh status    # exit 0 if it answers, 3 if not
#   bash infra/dynamodb-local.sh stop      # stop the instance this script started
#
# DYNAMODB_PORT (default 8000) picks the port. AWS's DynamoDBLocal.jar comes from the npm
# package amplify-dynamodb-simulator, which ships it under package/emulator/; only that tarball
# is fetched (npm pack), not the package's Node dependencies. It lands in .local/dynamodb.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${DYNAMODB_PORT:-8000}"
URL="http://127.0.0.1:$PORT"
# Pinned: 2.9.30 ships DynamoDB Local 1.25.1. Bump deliberately.
SIMULATOR_VERSION="${DYNAMODB_SIMULATOR_VERSION:-2.9.30}"
INSTALL_DIR="$ROOT/.local/dynamodb"
JAR="$INSTALL_DIR/DynamoDBLocal.jar"
LIB_DIR="$INSTALL_DIR/DynamoDBLocal_lib"
STAMP="$INSTALL_DIR/.installed-from"
PID_FILE="$ROOT/.local/dynamodb-local.$PORT.pid"
LOG_FILE="$ROOT/.local/dynamodb-local.$PORT.log"
START_TIMEOUT="${DYNAMODB_START_TIMEOUT:-60}"

say() { echo "dynamodb-local: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Any HTTP answer means the server is up (DynamoDB Local answers a bare GET with 400).
answers() {
    if command -v curl >/dev/null 2>&1; then
        curl --silent --output /dev/null --max-time 2 "$URL/"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
    fi
}

our_pid() {
    local pid
    [ -f "$PID_FILE" ] || return 1
    pid="$(cat "$PID_FILE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

ensure_java() {
    if command -v java >/dev/null 2>&1; then return 0; fi
    say "java not found; installing default-jre-headless with apt-get"
    command -v apt-get >/dev/null 2>&1 || die "no java and no apt-get: install a Java 11+ runtime"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq default-jre-headless >&2
    command -v java >/dev/null 2>&1 || die "apt-get installed default-jre-headless but java is still not on PATH"
}

ensure_installed() {
    if [ -f "$JAR" ] && [ -d "$LIB_DIR" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "amplify-dynamodb-simulator@$SIMULATOR_VERSION" ]; then
        return 0
    fi
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch amplify-dynamodb-simulator (it ships DynamoDBLocal.jar)"
    say "installing DynamoDB Local from amplify-dynamodb-simulator@$SIMULATOR_VERSION into $INSTALL_DIR"
    local tmp
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    (cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$SIMULATOR_VERSION" >/dev/null) \
        || die "npm pack amplify-dynamodb-simulator@$SIMULATOR_VERSION failed"
    tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp"
    [ -f "$tmp/package/emulator/DynamoDBLocal.jar" ] \
        || die "package/emulator/DynamoDBLocal.jar not found in amplify-dynamodb-simulator@$SIMULATOR_VERSION"
    rm -rf "$INSTALL_DIR"
    mkdir -p "$(dirname "$INSTALL_DIR")"
    mv "$tmp/package/emulator" "$INSTALL_DIR"
    echo "amplify-dynamodb-simulator@$SIMULATOR_VERSION" > "$STAMP"
}

# Gives up on the process it started: stops it, so a failed start leaves nothing behind.
abandon() {
    local pid="$1" why="$2"
    say "$why; last lines of $LOG_FILE:"
    tail -n 30 "$LOG_FILE" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    die "DynamoDB Local did not start on $URL"
}

wait_until_up() {
    local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            abandon "$pid" "the java process (pid $pid) exited"
        fi
        # A failed bind kills the main thread but leaves the JVM running.
        if grep -q 'Exception in thread "main"' "$LOG_FILE" 2>/dev/null; then
            abandon "$pid" "the java process (pid $pid) failed at startup"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            abandon "$pid" "no answer on $URL after ${START_TIMEOUT}s from pid $pid"
        fi
        sleep 0.5
    done
}

cmd_start() {
    if answers; then
        local pid
        if pid="$(our_pid)"; then
            say "already running on $URL (pid $pid)"
        else
            say "something already answers on $URL (not started by this script); using it"
        fi
        return 0
    fi
    ensure_installed
    ensure_java
    mkdir -p "$ROOT/.local"
    rm -f "$PID_FILE"
    # -sharedDb: one database whatever the access key and region, so the tests, the dev server
    # and the aws CLI all see the same tables. -disableTelemetry: no phoning home (no internet).
    # setsid + nohup: the server outlives this script and the shell that ran it.
    (
        cd "$INSTALL_DIR"
        exec setsid nohup java -Djava.library.path="$LIB_DIR" -jar "$JAR" \
            -inMemory -sharedDb -disableTelemetry -port "$PORT"
    ) >"$LOG_FILE" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" > "$PID_FILE"
    say "starting (pid $pid, log $LOG_FILE)"
    wait_until_up "$pid"
    say "up on $URL (pid $pid)"
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        if answers; then
            say "something answers on $URL but it was not started by this script; leaving it"
        else
            say "not running"
        fi
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not exit after SIGTERM; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    say "stopped (pid $pid)"
}

cmd_status() {
    local pid
    if answers; then
        if pid="$(our_pid)"; then
            echo "dynamodb-local: up on $URL (pid $pid, log $LOG_FILE)"
        else
            echo "dynamodb-local: something answers on $URL (not started by this script)"
        fi
        return 0
    fi
    if pid="$(our_pid)"; then
        echo "dynamodb-local: pid $pid alive but not answering on $URL (starting or stuck; see $LOG_FILE)"
    else
        echo "dynamodb-local: down (nothing answers on $URL)"
    fi
    return 3
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop; cmd_start ;;
    *) echo "usage: $0 [start|stop|status|restart]" >&2; exit 2 ;;
esac
