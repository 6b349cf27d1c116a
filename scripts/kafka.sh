#!/usr/bin/env bash
# Makes sure a Kafka-protocol broker listens on 127.0.0.1:9092 for the relay
# tests: if nothing does, starts tansu (in memory) in the background, first
# installing it from crates.io when it is not on PATH. Idempotent: run it as
# often as you like. Log: /var/tmp/tansu.log. Stop it with
# `kill "$(cat /var/tmp/tansu.pid)"`.
set -euo pipefail

HOST=127.0.0.1
PORT=9092
TANSU_VERSION=0.6.0
LOG=/var/tmp/tansu.log
PIDFILE=/var/tmp/tansu.pid
WAIT_SECONDS=60

listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if listening; then
  echo "kafka.sh: a broker already listens on $HOST:$PORT"
  exit 0
fi

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v tansu >/dev/null; then
  echo "kafka.sh: installing tansu $TANSU_VERSION from crates.io (the first time takes a while)"
  started=$(date +%s)
  # A target dir that outlives the clone, so a reinstall reuses the build.
  CARGO_TARGET_DIR=/var/tmp/tansu-target \
    cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore
  echo "kafka.sh: tansu installed in $(($(date +%s) - started)) s"
fi

# Own session: the broker outlives this script and the test run.
setsid nohup tansu broker \
  --listener-url "tcp://$HOST:$PORT" \
  --advertised-listener-url "tcp://$HOST:$PORT" \
  --storage-engine memory://tansu/ >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"

for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
  if listening; then
    echo "kafka.sh: tansu (pid $pid) listens on $HOST:$PORT"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: tansu exited before listening on $HOST:$PORT; last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
echo "kafka.sh: tansu (pid $pid) did not listen on $HOST:$PORT within $WAIT_SECONDS s; see $LOG" >&2
exit 1
