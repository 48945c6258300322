# Shell helpers the side-by-side benchmarks share; sourced after `venv` (the virtualenv's
# bin directory) and `bench_name` (the script's name, for messages) are set.

# Stop (exit 2) naming every missing need: the commands given ($@, each installed with
# apt-get under its own name), make, and the project's virtualenv with gunicorn.
require() {
  local missing=() tool
  for tool in "$@" make; do
    command -v "$tool" >/dev/null || missing+=("$tool (apt-get install -y $tool)")
  done
  if ! [ -x "$venv/python" ] || ! [ -x "$venv/gunicorn" ]; then
    missing+=("the virtualenv $(dirname "$venv") (\`make run\` creates it; stop it once it is ready)")
  fi
  if ((${#missing[@]})); then
    printf "$bench_name: missing %s\n" "${missing[@]}" >&2
    exit 2
  fi
}

# Wait up to $2 seconds for process $1 (a child of the script) to end.
gone_within() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# $1 distinct free ports on 127.0.0.1, on one line (held open together while chosen).
free_ports() {
  "$venv/python" - "$1" <<'PY'
import socket, sys

held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))
PY
}

# Until $1 answers (a URL: HTTP 200; host:port: a TCP connection), at most $2 seconds.
answers_within() {
  "$venv/python" - "$1" "$2" <<'PY'
import socket, sys, time, urllib.request

target, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        if target.startswith("http"):
            if urllib.request.urlopen(target, timeout=2).status == 200:
                sys.exit(0)
        else:
            host, port = target.rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=2).close()
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit(1)
PY
}

# Stop (exit 2) unless ATM_BENCH_POSTGRES_URL names a PostgreSQL server: none is picked by
# default. $1: the script's usage line.
require_postgres_url() {
  if [[ "${ATM_BENCH_POSTGRES_URL:-}" != postgresql* ]]; then
    echo "$bench_name: ATM_BENCH_POSTGRES_URL is not set (or not a postgresql URL): name" \
      "the PostgreSQL server to use, one where this user may create and drop databases;" \
      "none is picked by default" >&2
    echo "$1" >&2
    exit 2
  fi
}

# CPU milliseconds per operation of each kind of process: `kind_ms=…` pairs from two
# bench/process_cpu.py lines ($1 before, $2 after) and the operations between them ($3).
cpu_per_operation() {  # before after operations
  "$venv/python" - "$@" <<'PY'
import sys

before, after = (dict(p.split("=") for p in line.split()) for line in sys.argv[1:3])
operations = max(1.0, float(sys.argv[3]))
print(" ".join(
    f"{k}_ms={(float(after[k]) - float(before[k])) * 1000 / operations:.3f}" for k in after
))
PY
}

# The SUMMARY lines of a side-by-side run from its results file, one line "LOAD METRIC
# SYSTEM VALUE" per measurement: for each load and metric, the mean on each of the two
# systems named and the ratio second / first (for p50_ms: how many times slower).
summarize() {  # results-file first-system second-system
  awk -v first="$2" -v second="$3" '
    { key = $1 " " $2; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      sum[key, $3] += $4; count[key, $3]++ }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]; split(k, part, " ")
        if (!count[k, first] || !count[k, second]) {
          printf "SUMMARY %-27s %-7s incomplete\n", part[1], part[2]; continue
        }
        a = sum[k, first] / count[k, first]; b = sum[k, second] / count[k, second]
        fmt = part[2] == "p50_ms" ? "%.2f" : "%.0f"
        printf "SUMMARY %-27s %-7s " first "=" fmt "  " second "=" fmt "  ratio=%.2f\n",
          part[1], part[2], a, b, (a > 0 ? b / a : 0)
      }
    }' "$1" 2>/dev/null || echo "SUMMARY no results"
}

# wrk's withdrawals (bench/withdraw.lua) over the first 1,000 accounts of file $4 against
# the running stack, from $1 threads and $2 connections for $3 seconds: its RESULT line's
# figures, then each kind of process's CPU milliseconds per request (cpu_per_operation).
withdrawals() {  # threads connections seconds accounts-file
  local before after line rate
  before="$("$venv/python" "$here/process_cpu.py" "$redis_port")"
  line="$(ACCOUNTS_FILE="$4" ACCOUNTS=1000 wrk -t"$1" -c"$2" -d"$3s" --timeout 30s \
    -s "$here/withdraw.lua" "http://127.0.0.1:$port" 2>&1 | grep '^RESULT')"
  after="$("$venv/python" "$here/process_cpu.py" "$redis_port")"
  rate="$(sed -n 's|.*req/s=\([0-9.]*\).*|\1|p' <<<"$line")"
  echo "${line#RESULT } $(cpu_per_operation "$before" "$after" "$(awk "BEGIN { print ${rate:-0} * $3 }")")"
}

# `[ROUNDS] [VAR=value ...]`: sets `rounds` (default 1) and the array `settings`, or prints
# the usage ($1) saying what is wrong and exits 2.
rounds_and_settings() {  # usage arguments...
  local usage="$1"
  shift
  rounds=1
  if (($#)) && [[ "$1" != *=* ]]; then
    rounds="$1"
    shift
  fi
  if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    echo "$usage   (ROUNDS a whole number >= 1)" >&2
    exit 2
  fi
  local setting
  for setting in "$@"; do
    if ! [[ "$setting" =~ ^[A-Z_][A-Z0-9_]*= ]]; then
      echo "$usage   (each setting VAR=value)" >&2
      exit 2
    fi
  done
  settings=("$@")
}

give_up() {  # message log-file
  echo "$bench_name: $1; the last lines of its log:" >&2
  tail -n 30 "$2" >&2
  exit 1
}

# On the server of ATM_BENCH_POSTGRES_URL: check (print the server, its password hidden),
# create NAME (print the new database's URL) or drop NAME (closing its connections).
pg_admin() {
  BENCH_NAME="$bench_name" "$venv/python" - "$@" <<'EOF'
import os, sys
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

action, name = (sys.argv[1:] + [""])[:2]
server = make_url(os.environ["ATM_BENCH_POSTGRES_URL"])
engine = create_engine(server, isolation_level="AUTOCOMMIT")
try:
    with engine.connect() as connection:
        if action == "create":
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            print(server.set(database=name).render_as_string(hide_password=False))
        elif action == "drop":
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(server.render_as_string(hide_password=True))
except SQLAlchemyError as exc:
    shown = server.render_as_string(hide_password=True)
    doing = " ".join(sys.argv[1:])
    bench = os.environ.get("BENCH_NAME", "bench")
    sys.exit(f"{bench}: {doing} on {shown} failed: {getattr(exc, 'orig', None) or exc}")
EOF
}

# A benchmark's stack: a Redis without persistence and `make run` on DATABASE_URL $2 with
# the extra environment given (VAR=value ...), on free ports, their logs in folder $1; sets
# `port`, `redis_port`, `redis_pid` and `project_pid`. stop_run stops what is running and
# drops `database` when set (a PostgreSQL database made for the run); `cleanup`, the EXIT
# trap of the scripts that use them, also removes `work`.
start_run() {
  local data="$1" url="$2"
  shift 2
  read -r port redis_port < <(free_ports 2)
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$data" --save '' --appendonly no \
    --maxmemory 512mb --maxmemory-policy noeviction >"$data/redis.log" 2>&1 &
  redis_pid=$!
  answers_within "127.0.0.1:$redis_port" 15 || give_up "Redis did not start" "$data/redis.log"
  (cd "$root" && exec env -u PROMETHEUS_MULTIPROC_DIR FLASK_SKIP_DOTENV=1 HOST=127.0.0.1 \
    PORT="$port" REDIS_URL="redis://127.0.0.1:$redis_port/0" ATM_AUTH=off \
    ATM_DATA_DIR="$data" DATABASE_URL="$url" "$@" setsid make --no-print-directory run) \
    >"$data/project.log" 2>&1 &
  project_pid=$!
  answers_within "http://127.0.0.1:$port/health" 180 ||
    give_up "the project did not answer (${*:-on its defaults})" "$data/project.log"
}

# make forwards SIGTERM to the supervisor (run.py), which stops the web, then the workers; a
# process group killed afterwards takes the rest with it.
stop_run() {
  if [ -n "$project_pid" ]; then
    kill -TERM "$project_pid" 2>/dev/null
    gone_within "$project_pid" 60 || kill -KILL -- "-$project_pid" 2>/dev/null
    wait "$project_pid" 2>/dev/null
    project_pid=""
  fi
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null
    gone_within "$redis_pid" 10 || kill -KILL "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    redis_pid=""
  fi
  if [ -n "$database" ]; then
    pg_admin drop "$database"
    database=""
  fi
}
cleanup() {
  trap - EXIT INT TERM
  stop_run
  rm -rf "$work"
}

# The run's temporary directory in `work`, nothing started yet, and cleanup on any way out:
# an interrupt or a TERM exits (130, 143), and the exit stops what start_run started and
# removes the directory.
make_work() {
  work="$(mktemp -d -t "atm-${bench_name//_/-}.XXXXXX")"
  project_pid="" redis_pid="" database=""
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
