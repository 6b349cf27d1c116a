#!/usr/bin/env bash
# Makes sure a Kafka-protocol broker listens on 127.0.0.1:9092 for the relay
# tests: if nothing does, starts tools/test-broker (tansu's broker library on
# in-memory storage, without the tansu CLI's other tools) in the background,
# first building it when the installed copy is missing or older than its
# sources. The build lives outside the clone (/var/tmp/tansu-target, binary in
# /var/tmp/test-broker/bin), so every clone on this machine reuses it.
# Idempotent: run it as often as you like. Log: /var/tmp/tansu.log. Stop it
# with `kill "$(cat /var/tmp/tansu.pid)"`.
set -euo pipefail

HOST=127.0.0.1
PORT=9092
ROOT=/var/tmp/test-broker
BIN=$ROOT/bin/ticketing-test-broker
SRC="$(cd "$(dirname "$0")/../tools/test-broker" && pwd)"
LOG=/var/tmp/tansu.log
PIDFILE=/var/tmp/tansu.pid
WAIT_SECONDS=60

listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if listening; then
  echo "kafka.sh: a broker already listens on $HOST:$PORT"
  exit 0
fi

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# The sources' digest, so a changed broker crate is rebuilt and an unchanged
# one never is, whichever clone asks.
digest=$(cat "$SRC/Cargo.toml" "$SRC/Cargo.lock" "$SRC"/src/*.rs | sha256sum | cut -c1-16)
if [ ! -x "$BIN" ] || [ "$(cat "$ROOT/digest" 2>/dev/null)" != "$digest" ]; then
  echo "kafka.sh: building the test broker (tools/test-broker; the first time takes a while)"
  started=$(date +%s)
  CARGO_TARGET_DIR=/var/tmp/tansu-target \
    cargo install --path "$SRC" --locked --force --root "$ROOT"
  echo "$digest" >"$ROOT/digest"
  echo "kafka.sh: test broker built in $(($(date +%s) - started)) s"
fi

# Own session: the broker outlives this script and the test run.
setsid nohup "$BIN" \
  --listener-url "tcp://$HOST:$PORT" \
  --storage-engine memory://tansu/ >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"

for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
  if listening; then
    echo "kafka.sh: the test broker (pid $pid) listens on $HOST:$PORT"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: the test broker exited before listening on $HOST:$PORT; last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
echo "kafka.sh: the test broker (pid $pid) did not listen on $HOST:$PORT within $WAIT_SECONDS s; see $LOG" >&2
exit 1
