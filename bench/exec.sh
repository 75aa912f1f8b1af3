#!/usr/bin/env bash
# exec.sh: the issue's 8 × 25 loop — 8 processes, each running 25 increments
# of one counter file under a lock — timed for flock(1), `locksmith exec`
# with a host and plugin of its own, and `locksmith exec` through a local
# server (LOCKSMITH_SERVER, `locksmith serve --agent-socket`), both with
# `locksmith exec` and with the thin client `locksmith-exec`, in the same
# run. Each count is checked.
#
#   make build && bench/exec.sh [ROUNDS]      # default 3 rounds, interleaved
#
# BIN (default bin) holds locksmith and locksmith-plugin-file.
set -euo pipefail

BIN=${BIN:-bin}
ROUNDS=${1:-3}
PROCS=8
RUNS=25
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
inc="$dir/increment"
printf '#!/bin/sh\nn=$(cat "$1"); echo $((n+1)) > "$1"\n' >"$inc"
chmod +x "$inc"

# loop NAME CMD...: PROCS workers × RUNS runs of CMD LOCKFILE INC COUNTER.
loop() {
	local name=$1; shift
	local counter="$dir/counter.$name" lockfile="$dir/lock.$name"
	echo 0 >"$counter"
	local start end pids=()
	start=$(date +%s%N)
	for ((p = 0; p < PROCS; p++)); do
		(for ((i = 0; i < RUNS; i++)); do "$@" "$lockfile" "$inc" "$counter" || exit 1; done) &
		pids+=($!)
	done
	local failed=0
	for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
	end=$(date +%s%N)
	local got
	got=$(cat "$counter")
	if [ "$failed" != 0 ] || [ "$got" != $((PROCS * RUNS)) ]; then
		echo "$name: count $got of $((PROCS * RUNS)), failed=$failed" >&2
		exit 1
	fi
	echo $(((end - start) / 1000000))
}

start_server

printf '%d × %d increments, %d CPUs, load %s\n' "$PROCS" "$RUNS" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %10s %18s %18s %18s\n' round flock "exec (own host)" "exec (server)" "locksmith-exec"
for ((r = 1; r <= ROUNDS; r++)); do
	f=$(loop flock flock)
	l=$(loop local local_exec)
	a=$(loop agent agent_exec)
	t=$(loop thin thin_exec)
	printf '%-6s %8d ms %9d ms %5.1f× %9d ms %5.1f× %9d ms %5.1f×\n' "$r" "$f" "$l" "$(echo "$l / $f" | bc -l)" "$a" "$(echo "$a / $f" | bc -l)" "$t" "$(echo "$t / $f" | bc -l)"
done
