#!/usr/bin/env bash
# waiters.sh: N processes wait for one lock at once, each then holding it
# for WORK seconds (sleep, then an increment of a counter file). Timed from
# the moment every waiter is queued (the first holder lets go) to the last
# one's exit, beside the serial work (the script run N times in a row, no
# lock), for flock(1), `locksmith
# exec` with a host and plugin of its own per waiter, and `locksmith exec`
# through a local server (LOCKSMITH_SERVER), and the thin client
# locksmith-exec through that server. Each count is checked, and
# every waiter's stderr must be empty.
#
#   make build && bench/waiters.sh [N] [WORK]      # default 200 0.025
#
# BIN (default bin) holds locksmith and locksmith-plugin-file.
set -euo pipefail

BIN=${BIN:-bin}
N=${1:-200}
WORK=${2:-0.025}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
work="$dir/work"
printf '#!/bin/sh\nsleep %s\nn=$(cat "$1"); echo $((n+1)) > "$1"\n' "$WORK" >"$work"
chmod +x "$work"

# run NAME LOCK QUEUED CMD...: a first holder takes the lock, N waiters
# queue behind it running CMD LOCK WORK COUNTER; once QUEUED says all N
# wait, the holder lets go. Prints the milliseconds to the last exit.
run() {
	local name=$1 queued=$2; shift 2
	local counter="$dir/counter.$name" gate="$dir/gate.$name"
	echo 0 >"$counter"
	pids=()
	mkfifo "$gate"
	"$@" "$dir/lock.$name" sh -c 'read -r _ <"$1"' sh "$gate" 2>"$dir/err.$name.holder" &
	pids+=($!)
	local i
	for ((i = 0; i < 200 && $($queued "$name") < 0; i++)); do sleep 0.05; done
	sleep 0.5
	for ((i = 0; i < N; i++)); do
		"$@" "$dir/lock.$name" "$work" "$counter" 2>"$dir/err.$name.$i" &
		pids+=($!)
	done
	local n=0
	for ((i = 0; i < 1200; i++)); do
		n=$($queued "$name")
		[ "$n" -ge "$N" ] && break
		sleep 0.1
	done
	if [ "$n" -lt "$N" ]; then echo "$name: only $n of $N waiters queued after 120 s" >&2; exit 1; fi
	local start end failed=0
	start=$(date +%s%N)
	echo go >"$gate"
	for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
	end=$(date +%s%N)
	pids=()
	local got
	got=$(cat "$counter")
	if [ "$failed" != 0 ] || [ "$got" != "$N" ]; then
		echo "$name: count $got of $N, failed=$failed" >&2
		exit 1
	fi
	for f in "$dir"/err."$name".*; do
		if [ -s "$f" ]; then echo "$name: a waiter wrote to stderr ($f):" >&2; head -5 "$f" >&2; exit 1; fi
	done
	echo $(((end - start) / 1000000))
}

# Waiters queued, per tool: flock's from /proc/locks (blocked requests are
# the "->" lines), locksmith's from status.
queued_flock() {
	local ino
	ino=$(stat -c %i "$dir/lock.$1" 2>/dev/null) || { echo -1; return; }
	grep -c -- "-> FLOCK.*:$ino " /proc/locks || true
}
queued_locksmith() {
	local out
	out=$(LOCKSMITH_SERVER= "$LOCKSMITH" --config "$dir/locksmith.yaml" status --json "$dir/lock.$1" 2>/dev/null) || { echo -1; return; }
	grep -c '"granted": false' <<<"$out" || true
}

start_server

# The serial work: the same N runs of the script one after another, without
# a lock or a waiting process, timed in this run. It includes what starting
# sh, sleep and cat costs here, which N × WORK leaves out.
sleeps=$(echo "$N * $WORK * 1000" | bc -l | cut -d. -f1)
echo 0 >"$dir/counter.serial"
t0=$(date +%s%N)
for ((i = 0; i < N; i++)); do "$work" "$dir/counter.serial"; done
serial=$((($(date +%s%N) - t0) / 1000000))
[ "$(cat "$dir/counter.serial")" = "$N" ] || { echo "serial run: count $(cat "$dir/counter.serial") of $N" >&2; exit 1; }
printf '%d waiters × %s s of work: serial run %d ms (%d ms of it sleep), %d CPUs, load %s\n' "$N" "$WORK" "$serial" "$sleeps" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
f=$(run flock queued_flock flock)
printf '%-16s %8d ms %5.2f× serial\n' "flock" "$f" "$(echo "$f / $serial" | bc -l)"
l=$(run local queued_locksmith local_exec)
printf '%-16s %8d ms %5.2f× serial %5.2f× flock\n' "exec (own host)" "$l" "$(echo "$l / $serial" | bc -l)" "$(echo "$l / $f" | bc -l)"
a=$(run agent queued_locksmith agent_exec)
printf '%-16s %8d ms %5.2f× serial %5.2f× flock\n' "exec (server)" "$a" "$(echo "$a / $serial" | bc -l)" "$(echo "$a / $f" | bc -l)"
t=$(run thin queued_locksmith thin_exec)
printf '%-16s %8d ms %5.2f× serial %5.2f× flock\n' "locksmith-exec" "$t" "$(echo "$t / $serial" | bc -l)" "$(echo "$t / $f" | bc -l)"
