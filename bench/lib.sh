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
