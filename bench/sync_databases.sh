#!/usr/bin/env bash
# The synchronous path on SQLite and on PostgreSQL, one after the other on one machine,
# driven by the same wrk withdrawals (bench/withdraw.lua). Rates move between machines; the
# ratios of one run are what docs/performance.md reports.
#
#   ATM_BENCH_POSTGRES_URL=postgresql+psycopg://user@host:port/dbname \
#     bash bench/sync_databases.sh [ROUNDS] [VAR=value ...]
#
# Default 1 round; about two minutes a round. Each round: `make run` on a fresh SQLite file
# and on a fresh database created on the server of ATM_BENCH_POSTGRES_URL (dropped
# afterwards), the first of the two alternating by round, each with its own Redis (no
# persistence) on free ports and stopped before the next starts; VAR=value pairs go to both
# (ATM_WORKER_PROCESSES=1, say). Each opens 1,000 accounts, then 1 client for 10 s and 32
# clients over the 1,000 accounts for 15 s. A RESULT line per database and load, with the
# CPU milliseconds per request of each kind of process (bench/process_cpu.py), then a
# SUMMARY line per load: the means on each database and the ratio.
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/.venv/bin"
bench_name=sync_databases
. "$here/lib.sh"
usage="usage: ATM_BENCH_POSTGRES_URL=postgresql+psycopg://user@host:port/dbname \\
  bash bench/sync_databases.sh [ROUNDS] [VAR=value ...]"

rounds_and_settings "$usage" "$@"
require_postgres_url "$usage"
require wrk redis-server

make_work

# One database: Redis and `make run` on DATABASE_URL $3, the two loads, everything stopped.
run_on() {  # round name database-url
  local data="$work/$2-$1" line
  mkdir -p "$data"
  start_run "$data" "$3" ATM_SQLITE_SYNCHRONOUS=FULL "${settings[@]}"
  "$venv/python" "$here/open_accounts.py" "http://127.0.0.1:$port" 1000 "$data/accounts" \
    >/dev/null || give_up "opening accounts on $2 failed" "$data/project.log"
  line="$(withdrawals 1 1 10 "$data/accounts")"
  echo "RESULT round=$1 database=$2 load=1-client $line"
  echo "1-client p50_ms $2 $(sed -n 's|.*p50_ms=\([0-9.]*\).*|\1|p' <<<"$line")" >>"$work/results.txt"
  line="$(withdrawals 2 32 15 "$data/accounts")"
  echo "RESULT round=$1 database=$2 load=32-clients $line"
  echo "32-clients req/s $2 $(sed -n 's|.*req/s=\([0-9.]*\).*|\1|p' <<<"$line")" >>"$work/results.txt"
  stop_run
}

server="$(pg_admin check)" || exit 1
code="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
echo "sync_databases: $rounds round(s); settings: ${settings[*]:-none}; $(nproc) CPUs," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), code $code; PostgreSQL server $server"

run_sqlite() { run_on "$1" sqlite "sqlite:///$work/sqlite-$1/atm.db"; }
run_postgresql() {
  database="atm_sync_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  url="$(pg_admin create "$database")" || exit 1
  run_on "$1" postgresql "$url"
}
for round in $(seq 1 "$rounds"); do
  if ((round % 2)); then
    run_sqlite "$round"
    run_postgresql "$round"
  else
    run_postgresql "$round"
    run_sqlite "$round"
  fi
done

echo "sync_databases: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "SUMMARY means over $rounds round(s); ratio = postgresql / sqlite (for p50_ms, times slower)"
summarize "$work/results.txt" sqlite postgresql
