#!/usr/bin/env bash
# The batch path on SQLite and on PostgreSQL, one after the other on one machine, driven by
# the same load (bench/batch_throughput.py). Rates move between machines; the ratios of one
# run are what docs/performance.md reports.
#
#   ATM_BENCH_POSTGRES_URL=postgresql+psycopg://user@host:port/dbname \
#     bash bench/batch_databases.sh [ROUNDS] [-- batch_throughput.py arguments]
#
# Default 1 round of `--operations 50000 --accounts 5000` (arguments after -- come after
# those, so they override them); a minute or two a round. Each round: `make run` on a fresh
# SQLite file, then on a fresh database created on the server of ATM_BENCH_POSTGRES_URL and
# dropped afterwards; each with its own Redis (no persistence) on free ports, and stopped
# before the next starts. batch_throughput.py's lines come prefixed with the database and
# the round (its "sqlite3 limit" is the raw-SQLite yardstick, whichever database serves),
# then a SUMMARY line per load: the mean ops/s on each database and the ratio.
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/.venv/bin"
bench_name=batch_databases
. "$here/lib.sh"
usage="usage: ATM_BENCH_POSTGRES_URL=postgresql+psycopg://user@host:port/dbname \\
  bash bench/batch_databases.sh [ROUNDS] [-- batch_throughput.py arguments]"

rounds=1
if (($#)) && [ "$1" != "--" ]; then
  rounds="$1"
  shift
fi
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { (($#)) && [ "$1" != "--" ]; }; then
  echo "$usage   (ROUNDS a whole number >= 1)" >&2
  exit 2
fi
(($#)) && shift
load=(--operations 50000 --accounts 5000 "$@")

require_postgres_url "$usage"

require redis-server

make_work



# One run: Redis and `make run` on DATABASE_URL $3, the load, everything stopped again.
run_on() {  # round name database-url
  local data="$work/$2-$1"
  mkdir -p "$data"
  start_run "$data" "$3" ATM_SQLITE_SYNCHRONOUS=FULL
  "$venv/python" "$here/batch_throughput.py" --base-url "http://127.0.0.1:$port" "${load[@]}" \
    2>&1 | while IFS= read -r line; do
    printf '%-10s round %s  %s\n' "$2" "$1" "$line"
    if [[ "$line" =~ ^(spread|transfers|hot|half-on-one),.*=\ +([0-9]+)\ ops/s ]]; then
      echo "${BASH_REMATCH[1]} ops/s $2 ${BASH_REMATCH[2]}" >>"$work/results.txt"
    fi
  done || give_up "the load on $2 failed" "$data/project.log"
  stop_run
}

server="$(pg_admin check)" || exit 1
code="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
echo "batch_databases: $rounds round(s) of batch_throughput.py ${load[*]}; $(nproc) CPUs," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), code $code; PostgreSQL server $server"

for round in $(seq 1 "$rounds"); do
  run_on "$round" sqlite "sqlite:///$work/sqlite-$round/atm.db"
  database="atm_batch_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  url="$(pg_admin create "$database")" || exit 1
  run_on "$round" postgresql "$url"
done

echo "batch_databases: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "SUMMARY means over $rounds round(s), ops/s; ratio = postgresql / sqlite"
summarize "$work/results.txt" sqlite postgresql
