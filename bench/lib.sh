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
