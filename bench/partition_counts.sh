#!/usr/bin/env bash
# The batch load of bench/side_by_side.sh against this service alone, with each partition
# count given, alternated, so that what the count costs batches is seen beside the noise.
#
#   bash bench/partition_counts.sh [ROUNDS] [COUNT ...]    (default: 2 rounds of 8 and 128)
#
# Each round, for each count (in reverse order every other round, so that no count always
# runs last): `make run` on a fresh SQLite file with ATM_PARTITIONS=COUNT and its own Redis
# (no persistence) on free ports, 10,000 accounts opened, then three runs of
# bench/batch_load.py (100,000 operations as batches of 10,000, seeds 1 to 3), then the
# stack stopped. One RESULT line per run, with the CPU milliseconds per operation of each
# kind of process (bench/process_cpu.py), then a SUMMARY line per count: the mean ops/s.
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/.venv/bin"
bench_name=partition_counts
. "$here/lib.sh"
rounds="${1:-2}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash bench/partition_counts.sh [ROUNDS] [COUNT ...]" >&2
  exit 2
fi
(($#)) && shift
counts=(8 128)
(($#)) && counts=("$@")
for count in "${counts[@]}"; do
  [[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "partition_counts: not a count: $count" >&2; exit 2; }
done

require redis-server
make_work

declare -A total runs
for round in $(seq "$rounds"); do
  order=("${counts[@]}")
  if ((round % 2 == 0)); then  # every other round in reverse: no count always runs last
    order=()
    for ((i = ${#counts[@]} - 1; i >= 0; i--)); do order+=("${counts[i]}"); done
  fi
  for count in "${order[@]}"; do
    data="$work/round$round-$count"
    mkdir -p "$data"
    start_run "$data" "sqlite:///$data/atm.db" ATM_PARTITIONS="$count"
    url="http://127.0.0.1:$port"
    "$venv/python" "$here/open_accounts.py" "$url" 10000 "$data/accounts" >/dev/null ||
      give_up "opening the accounts failed" "$data/project.log"
    for seed in 1 2 3; do
      before="$("$venv/python" "$here/process_cpu.py" "$redis_port")"
      line="$("$venv/python" "$here/batch_load.py" "$url" "$data/accounts" --seed "$seed" |
        tail -1)"
      after="$("$venv/python" "$here/process_cpu.py" "$redis_port")"
      echo "round $round  partitions $count  $line $(cpu_per_operation "$before" "$after" 100000)"
      rate="$(sed -n 's/.*ops\/s=\([0-9]*\).*/\1/p' <<<"$line")"
      total[$count]=$((${total[$count]:-0} + ${rate:-0}))
      runs[$count]=$((${runs[$count]:-0} + 1))
    done
    stop_run
  done
done
for count in "${counts[@]}"; do
  echo "SUMMARY partitions $count  mean ops/s=$((total[$count] / runs[$count])) over ${runs[$count]} runs"
done
