#!/usr/bin/env bash
# What each kind of process spends on one synchronous request, from 1 client to 256: the
# work paid once per wake-up of a worker (Celery's handling of the message, the transaction's
# begin and commit, the look after answering) is shared by every request a drain finds, so
# it weighs most on a lone client.
#
#   bash bench/cpu_per_request.sh [ROUNDS] [VAR=value ...]
#
# Default 1 round; about a minute and a half a round. Each round: `make run` on a fresh SQLite
# file (synchronous=FULL, as bench/side_by_side.sh runs it) with its own Redis (no
# persistence) on free ports, VAR=value pairs added to its environment; 1,000 accounts
# opened, then wrk withdrawals (bench/withdraw.lua) from 1 client for 10 s, 32 clients for
# 15 s and 256 for 15 s. A RESULT line per load: its rate and latency, and the CPU
# milliseconds per request of each kind of process (bench/process_cpu.py, read from /proc
# before and after the load; web, worker, sender, postgres, redis).
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/.venv/bin"
bench_name=cpu_per_request
. "$here/lib.sh"
usage="usage: bash bench/cpu_per_request.sh [ROUNDS] [VAR=value ...]"

rounds_and_settings "$usage" "$@"
require wrk redis-server

make_work

code="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
echo "cpu_per_request: $rounds round(s); settings: ${settings[*]:-none}; $(nproc) CPUs," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), code $code"

for round in $(seq 1 "$rounds"); do
  data="$work/round-$round"
  mkdir -p "$data"
  start_run "$data" "sqlite:///$data/atm.db" ATM_SQLITE_SYNCHRONOUS=FULL "${settings[@]}"
  "$venv/python" "$here/open_accounts.py" "http://127.0.0.1:$port" 1000 "$data/accounts" \
    >/dev/null || give_up "opening accounts failed" "$data/project.log"
  echo "RESULT round=$round load=1-client $(withdrawals 1 1 10 "$data/accounts")"
  echo "RESULT round=$round load=32-clients $(withdrawals 2 32 15 "$data/accounts")"
  echo "RESULT round=$round load=256-clients $(withdrawals 2 256 15 "$data/accounts")"
  stop_run
done
echo "cpu_per_request: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
