#!/usr/bin/env bash
# Side by side on one machine, in one run: this service (`make run`) and the seed's plain
# synchronous design (bench/seed_style_baseline.py, the yardstick), driven by the same load.
# Rates move between machines and runs; the ratios of one run are what docs/performance.md reports.
#
#   bash bench/side_by_side.sh [ROUNDS]    (default 2; a minute to start, about 2 a round)
#
# Each round, for each load, the baseline then the project: wrk withdrawals (bench/withdraw.lua)
# from 1 client, 32 clients over 1,000 accounts, 32 clients on one account and 256 clients
# over 1,000 accounts; then 100,000 batch operations over 10,000 accounts (bench/batch_load.py).
# One RESULT line per system and load, then a SUMMARY line per load: the means over the
# rounds and their ratio. Everything runs on free ports, with its own Redis (no persistence)
# and SQLite files in a temporary directory, all stopped and removed at the end.
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/.venv/bin"
bench_name=side_by_side
. "$here/lib.sh"
rounds="${1:-2}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash bench/side_by_side.sh [ROUNDS]   (ROUNDS a whole number >= 1)" >&2
  exit 2
fi

require wrk redis-server

work="$(mktemp -d -t atm-side-by-side.XXXXXX)"
baseline_pid="" project_pid="" redis_pid=""


# The project first: its supervisor (run.py, make's child) stops the web, then the workers.
# make forwards SIGTERM to it and waits; a process group killed afterwards takes the rest
# with it (the supervised programs get SIGTERM when their supervisor dies).
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$project_pid" ]; then
    kill -TERM "$project_pid" 2>/dev/null
    gone_within "$project_pid" 60 || kill -KILL -- "-$project_pid" 2>/dev/null
  fi
  if [ -n "$baseline_pid" ]; then
    kill -TERM "$baseline_pid" 2>/dev/null
    gone_within "$baseline_pid" 30 || kill -KILL -- "-$baseline_pid" 2>/dev/null
  fi
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null
    gone_within "$redis_pid" 10 || kill -KILL "$redis_pid" 2>/dev/null
  fi
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Three distinct free ports: baseline, project, Redis (held open together while chosen).
read -r baseline_port project_port redis_port < <(free_ports 3)
baseline_url="http://127.0.0.1:$baseline_port"
project_url="http://127.0.0.1:$project_port"



load_average() { cut -d' ' -f1-3 /proc/loadavg; }
code="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
echo "side_by_side: $rounds round(s), $(nproc) CPUs, load average $(load_average), code $code"

# Like `make run`'s own Redis, without persistence: nothing the loads measure depends on it.
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work" --save '' --appendonly no \
  --maxmemory 512mb --maxmemory-policy noeviction >"$work/redis.log" 2>&1 &
redis_pid=$!
answers_within "127.0.0.1:$redis_port" 15 || give_up "Redis did not start" "$work/redis.log"

(cd "$here" && BASELINE_DB_PATH="$work/baseline.db" exec setsid "$venv/gunicorn" \
  --worker-class gthread --workers 1 --threads 16 --bind "127.0.0.1:$baseline_port" \
  --no-control-socket "seed_style_baseline:create_app()") >"$work/baseline.log" 2>&1 &
baseline_pid=$!

# The project on its defaults, except what keeps it apart from any other instance and what
# must match the baseline (open access, synchronous=FULL); a .env is not read.
mkdir -p "$work/project"
(cd "$root" && exec env -u PROMETHEUS_MULTIPROC_DIR FLASK_SKIP_DOTENV=1 HOST=127.0.0.1 \
  PORT="$project_port" REDIS_URL="redis://127.0.0.1:$redis_port/0" ATM_AUTH=off \
  ATM_DATA_DIR="$work/project" DATABASE_URL="sqlite:///$work/project/atm.db" \
  ATM_SQLITE_SYNCHRONOUS=FULL setsid make --no-print-directory run) >"$work/project.log" 2>&1 &
project_pid=$!

answers_within "$baseline_url/accounts/10001/balance" 60 ||
  give_up "the baseline did not answer" "$work/baseline.log"
answers_within "$project_url/health" 180 ||
  give_up "the project did not answer" "$work/project.log"
echo "side_by_side: baseline $baseline_url, project $project_url (make run), Redis :$redis_port"

for system in baseline project; do
  url="${system}_url"
  "$venv/python" "$here/open_accounts.py" "${!url}" 10000 "$work/$system.accounts" ||
    give_up "opening accounts on the $system failed" "$work/$system.log"
done

# One line per system and load; the figure the summary averages goes to results.txt.
record() {  # round system load metric line
  printf 'round %s  %-8s  %-27s %s\n' "$1" "$2" "$3" "${5:-RESULT missing}"
  local value
  value="$(sed -n "s|.* $4=\([0-9.]*\).*|\1|p" <<<"${5:-}")"
  [ -n "$value" ] && echo "$3 $4 $2 $value" >>"$work/results.txt"
}

wrk_load() {  # round load metric threads connections accounts seconds
  local system url line
  for system in baseline project; do
    url="${system}_url"
    line="$(ACCOUNTS_FILE="$work/$system.accounts" ACCOUNTS="$6" wrk -t"$4" -c"$5" -d"$7s" \
      --timeout 30s -s "$here/withdraw.lua" "${!url}" 2>&1 | grep '^RESULT')"
    record "$1" "$system" "$2" "$3" "$line"
  done
}

for round in $(seq 1 "$rounds"); do
  wrk_load "$round" 1-client p50_ms 1 1 1000 10
  wrk_load "$round" 32-clients-1000-accounts req/s 2 32 1000 15
  wrk_load "$round" 32-clients-1-account req/s 2 32 1 15
  wrk_load "$round" 256-clients-1000-accounts req/s 2 256 1000 15
  for system in baseline project; do
    url="${system}_url"
    line="$("$venv/python" "$here/batch_load.py" "${!url}" "$work/$system.accounts" 2>&1 |
      grep '^RESULT')"
    record "$round" "$system" batch-100k-10000-accounts ops/s "$line"
  done
done

echo "side_by_side: load average $(load_average) at the end"
echo "SUMMARY means over $rounds round(s); ratio = project / baseline (for p50_ms, times slower)"
summarize "$work/results.txt" baseline project
