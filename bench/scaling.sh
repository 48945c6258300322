#!/usr/bin/env bash
# Growth on PostgreSQL: the same loads against `make run` with more worker and web
# processes, and what each kind of process spends on an operation.
#
#   ATM_BENCH_POSTGRES_URL=postgresql+psycopg://user@host:port/dbname \
#     bash bench/scaling.sh [SHAPES]
#
# SHAPES are WORKERS:WEB pairs (ATM_WORKER_PROCESSES, WEB_CONCURRENCY), default
# "1:1 2:1 4:1 1:2 2:2 4:2". Each shape: a fresh database on the server of
# ATM_BENCH_POSTGRES_URL (dropped afterwards) and its own Redis on free ports, 10,000
# accounts opened, then 32 clients withdrawing over 1,000 accounts for 15 s (wrk,
# bench/withdraw.lua) and 100,000 batch operations over the 10,000 (bench/batch_load.py).
# Each load prints a RESULT line with its rate, its p99 (synchronous) and the CPU
# milliseconds per operation of each kind of process (bench/process_cpu.py: web, worker,
# sender, postgres, redis), read from /proc before and after. On a machine whose cores the
# load fills, the rates flatten while the CPU per operation says where the work goes.
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/.venv/bin"
bench_name=scaling
. "$here/lib.sh"

shapes=("$@")
((${#shapes[@]})) || shapes=(1:1 2:1 4:1 1:2 2:2 4:2)
for shape in "${shapes[@]}"; do
  if ! [[ "$shape" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]]; then
    echo "usage: ATM_BENCH_POSTGRES_URL=… bash bench/scaling.sh [WORKERS:WEB ...]" >&2
    exit 2
  fi
done
require_postgres_url "usage: ATM_BENCH_POSTGRES_URL=… bash bench/scaling.sh [WORKERS:WEB ...]"
require redis-server wrk

make_work

run_shape() {  # workers web
  local data="$work/$1-$2" url before after line
  mkdir -p "$data"
  database="atm_scaling_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  url="$(pg_admin create "$database")" || exit 1
  start_run "$data" "$url" ATM_WORKER_PROCESSES="$1" WEB_CONCURRENCY="$2"
  "$venv/python" "$here/open_accounts.py" "http://127.0.0.1:$port" 10000 "$data/accounts" ||
    give_up "opening accounts failed" "$data/project.log"

  echo "RESULT workers=$1 web=$2 load=32-clients $(withdrawals 2 32 15 "$data/accounts")"

  before="$("$venv/python" "$here/process_cpu.py" "$redis_port")"
  line="$("$venv/python" "$here/batch_load.py" "http://127.0.0.1:$port" "$data/accounts" 2>&1 |
    grep '^RESULT')"
  after="$("$venv/python" "$here/process_cpu.py" "$redis_port")"
  echo "RESULT workers=$1 web=$2 load=batch-100k ${line#RESULT } $(cpu_per_operation "$before" "$after" 100000)"
  stop_run
}

server="$(pg_admin check)" || exit 1
code="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
echo "scaling: shapes ${shapes[*]}; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "code $code; PostgreSQL server $server"
for shape in "${shapes[@]}"; do
  run_shape "${shape%%:*}" "${shape##*:}"
done
