# lib.sh: what bench/exec.sh and bench/waiters.sh share, sourced after they
# set BIN: checks for flock(1) and the locksmith binary, a scratch directory
# with a file-backend config ($dir, removed on exit with every process in
# pids and the server), a local server on $dir/agent.sock
# (start_server), and the two ways to run exec: local_exec (a host and
# plugin of its own), agent_exec (through that server) and thin_exec
# (locksmith-exec, the thin client, through that server).

LOCKSMITH=$(cd "$BIN" && pwd)/locksmith
LOCKSMITH_EXEC=$(cd "$BIN" && pwd)/locksmith-exec
command -v flock >/dev/null || { echo "flock(1) missing (util-linux)" >&2; exit 1; }
[ -x "$LOCKSMITH" ] || { echo "$LOCKSMITH missing: run make build" >&2; exit 1; }
[ -x "$LOCKSMITH_EXEC" ] || { echo "$LOCKSMITH_EXEC missing: run make build" >&2; exit 1; }

dir=$(mktemp -d /tmp/locksmith-bench.XXXXXX)
server=
pids=()
cleanup() {
	for pid in "${pids[@]}" $server; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}" $server; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/locksmith.yaml" <<YAML
plugins:
  file:
    config:
      named_dir: $dir/named
      session_dir: $dir/sessions
YAML

start_server() {
	"$LOCKSMITH" --config "$dir/locksmith.yaml" serve --listen 127.0.0.1:0 --agent-socket "$dir/agent.sock" 2>"$dir/serve.log" &
	server=$!
	local i
	for ((i = 0; i < 300; i++)); do [ -S "$dir/agent.sock" ] && break; sleep 0.05; done
	[ -S "$dir/agent.sock" ] || { echo "locksmith serve did not start:" >&2; cat "$dir/serve.log" >&2; exit 1; }
}

local_exec() { LOCKSMITH_SERVER= "$LOCKSMITH" --config "$dir/locksmith.yaml" exec "$@"; }
agent_exec() { LOCKSMITH_SERVER="unix://$dir/agent.sock" "$LOCKSMITH" exec "$@"; }
thin_exec() { LOCKSMITH_SERVER="unix://$dir/agent.sock" "$LOCKSMITH_EXEC" "$@"; }
