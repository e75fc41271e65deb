#!/usr/bin/env bash
# Smoke check of the README's local stack, run exactly as the README says: `make dev` in the
# background, then the README's own commands against it (`cargo run -q -p tsunagu-local -- …`,
# curl with the demo key, the fake LINE's /__fake/requests). Fails when `make dev` fails, when
# it never answers, or when the friend, the replies or the moved clock are not what the README
# promises. Everything it started is stopped on exit.
#
# Ports and table come from the environment; the defaults keep clear of a `make dev` already
# running on 3000/3001 and of its table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PORT="${PORT:-3100}"
export FAKE_LINE_PORT="${FAKE_LINE_PORT:-3101}"
export TABLE_NAME="${TABLE_NAME:-smoke-$$-$RANDOM}"
# The first `cargo run` of a fresh clone compiles the workspace: minutes on 2 cores.
STARTUP_SECONDS="${SMOKE_STARTUP_SECONDS:-1800}"

export TSUNAGU_URL="http://127.0.0.1:$PORT"
export FAKE_LINE_URL="http://127.0.0.1:$FAKE_LINE_PORT"
KEY="demo-api-key-change-me"
U=U0123456789abcdef0123456789abcdef

log="$(mktemp "${TMPDIR:-/tmp}/tsunagu-smoke.XXXXXX")"
pgid=""

fail() {
    echo "smoke: FAILED: $*" >&2
    echo "---- make dev output (last 40 lines) ----" >&2
    tail -n 40 "$log" >&2 || true
    exit 1
}

stop() {
    if [ -n "$pgid" ]; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 -- "-$pgid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap stop EXIT

for p in "$PORT" "$FAKE_LINE_PORT"; do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/"; then
        fail "something already answers on 127.0.0.1:$p; choose PORT / FAKE_LINE_PORT"
    fi
done

echo "smoke: make dev (PORT=$PORT FAKE_LINE_PORT=$FAKE_LINE_PORT TABLE_NAME=$TABLE_NAME)"
# Job control puts `make dev` in a process group of its own (its id is the job's pid), so one
# kill stops make, cargo and the stack, and nothing else.
set -m
make dev </dev/null >"$log" 2>&1 &
pgid=$!
set +m

waited=0
until curl -s -o /dev/null --max-time 2 "$TSUNAGU_URL/__local/clock"; do
    kill -0 "$pgid" 2>/dev/null || { wait "$pgid" || true; fail "make dev exited before the stack answered"; }
    [ "$waited" -lt "$STARTUP_SECONDS" ] || fail "no answer on $TSUNAGU_URL after ${STARTUP_SECONDS}s"
    sleep 2
    waited=$((waited + 2))
done
echo "smoke: the stack answers after ${waited}s"

# check DESCRIPTION PYTHON-EXPRESSION JSON: the expression sees the parsed JSON as `j`
# (a list for JSON lines).
check() {
    local what="$1" expr="$2" json="$3"
    if ! printf '%s' "$json" | python3 -c '
import json, sys
text = sys.stdin.read()
try:
    j = json.loads(text)
except ValueError:
    j = [json.loads(l) for l in text.splitlines() if l.strip()]
sys.exit(0 if eval(sys.argv[1]) else 1)
' "$expr"; then
        printf '%s\n' "$json" | tail -c 2000 >&2
        fail "$what"
    fi
    echo "smoke: ok: $what"
}

local_cli() {
    cargo run -q -p tsunagu-local -- "$@"
}

# The README's commands, verbatim apart from the ports in TSUNAGU_URL / FAKE_LINE_URL.
local_cli apply docs/examples || fail "apply docs/examples"
# As the README's journey does: start at noon in Tokyo, whatever the hour of this run, so the
# delivery window (09:00–21:00) is open and day 3 at 10:00 is less than 3 days ahead.
local_cli clock --to "$(TZ=Asia/Tokyo date -d 'tomorrow 12:00' -Iseconds)" >/dev/null ||
    fail "clock --to tomorrow 12:00"
local_cli send follow --user $U --name 花子 || fail "send follow"
local_cli send message --user $U --text "クーポンありますか" || fail "send message"

friend="$(curl -sf -H "Authorization: Bearer $KEY" "$TSUNAGU_URL/admin/friends/$U")" ||
    fail "GET /admin/friends/$U"
check "the friend is 花子, following" \
    'j["displayName"] == "花子" and not j.get("blocked")' "$friend"

requests="$(curl -sf "$FAKE_LINE_URL/__fake/requests")" || fail "GET /__fake/requests"
check "the profile was fetched from the fake LINE" \
    'any(r["path"] == "/v2/bot/profile/'$U'" and r["status"] == 200 for r in j)' "$requests"
check "the welcome greeting went back by reply" \
    'any(r["path"] == "/v2/bot/message/reply" and r["status"] == 200 and "花子さん、友だち追加ありがとうございます" in json.dumps(r["body"], ensure_ascii=False) for r in j)' "$requests"
check "the auto-reply answered the message" \
    'any(r["path"] == "/v2/bot/message/reply" and r["status"] == 200 and "クーポンはメッセージで" in json.dumps(r["body"], ensure_ascii=False) for r in j)' "$requests"

moved="$(local_cli clock --advance 3d)" || fail "clock --advance 3d"
check "moving the clock 3 days sent the day-3 step" 'j["sent"] >= 1' "$moved"
requests="$(curl -sf "$FAKE_LINE_URL/__fake/requests")" || fail "GET /__fake/requests"
check "the day-3 step was pushed to 花子" \
    'any(r["path"] == "/v2/bot/message/push" and r["status"] == 200 and r["body"]["to"] == "'$U'" and "ご利用のコツ" in json.dumps(r["body"], ensure_ascii=False) for r in j)' "$requests"

# The console, as the banner says: the demo owner signs in and sees the dashboard.
jar="$(mktemp)"
login="$(curl -sf -c "$jar" -b "$jar" "$TSUNAGU_URL/console/login")" || fail "GET /console/login"
csrf="$(grep -o 'name="csrf" value="[^"]*"' <<<"$login" | head -1 | sed 's/.*value="//; s/"$//')"
signed_in="$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' \
    --data-urlencode "csrf=$csrf" --data-urlencode "email=${DEMO_OWNER_EMAIL:-owner@demo.example}" \
    --data-urlencode "password=${DEMO_OWNER_PASSWORD:-tsunagu-demo-2026}" "$TSUNAGU_URL/console/login")"
[[ "$signed_in" == "303 $TSUNAGU_URL/console/" ]] || fail "console sign-in answered $signed_in"
dashboard="$(curl -sf -b "$jar" "$TSUNAGU_URL/console/")" || fail "GET /console/"
rm -f "$jar"
grep -q "ダッシュボード" <<<"$dashboard" && grep -q "Demo shop" <<<"$dashboard" ||
    fail "the console dashboard does not show the demo shop"
echo "smoke: the demo owner signed in to the console"

echo "smoke: all checks passed"
