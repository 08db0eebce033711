#!/usr/bin/env bash
# Measures the agent inventory at scale (docs/performance.md, "Inventory
# at scale"): for each size N (default 10,000 then 1,000,000) it
#   1. initialises a data directory and registers N real agents in it with
#      scripts/seedagents (issuer.Issue in-process: a did:key, a proof of
#      control, a signed credential, status indexes and an audit event each,
#      fsynced in bbolt batches; about 1,000 agents a second on 2 cores, so
#      1,000,000 take a quarter of an hour and 3.4 GB of disk);
#   2. starts `agentid serve` on it and times its start (the database's
#      structural check, boltstore.Validate, runs before anything else);
#   3. pages through GET /v1/agents with `agentid agent list --json`, which
#      follows the cursor, and counts the agents printed;
#   4. reports the peak RSS of the server (VmHWM, after the listing; and,
#      sampled during it, its own memory RssAnon apart from the pages of
#      the mapped database RssFile) and of the CLI (GNU time's maximum
#      resident set size).
# Flat memory means the same peaks at both sizes.
#
#   scripts/inventory-scale.sh [N ...]          # sizes
#   SEEDED_DIR=/path/to/data N=... scripts/inventory-scale.sh   # reuse a seeded directory
#
# Not part of `go test ./...`. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 1000000)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/agentid" ./cmd/agentid
go build -o "$bin/seedagents" ./scripts/seedagents
port=18331
url=http://localhost:$port

for n in "${sizes[@]}"; do
	if [ -n "${SEEDED_DIR:-}" ]; then
		data=$SEEDED_DIR
		url=${SEEDED_URL:?set SEEDED_URL to the issuer URL of the directory}
		port=${url##*:}
	else
		work=$(mktemp -d)
		data=$work/data
		"$bin/agentid" init --data "$data" --issuer-url "$url" >/dev/null 2>&1
		t0=$(date +%s.%N)
		"$bin/seedagents" -data "$data" -issuer-url "$url" -n "$n"
		echo "seeded $n agents in $(echo "$(date +%s.%N) - $t0" | bc) s"
	fi
	echo "== $n agents: database $(du -h "$data/agentid.db" | cut -f1)"
	t0=$(date +%s.%N)
	"$bin/agentid" serve --data "$data" --addr "127.0.0.1:$port" --issuer-url "$url" 2>"$bin/serve.log" &
	pid=$!
	until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; do
		kill -0 "$pid" 2>/dev/null || { cat "$bin/serve.log"; exit 1; }
		sleep 0.05
	done
	echo "serve ready after $(echo "$(date +%s.%N) - $t0" | bc) s (structural check, open, integrity check)"
	# On Linux serve runs the server in a child of the pid started here
	# (cmd/agentid/supervise_linux.go): measure the child.
	spid=$(pgrep -P "$pid" || echo "$pid")
	echo "server after start: $(awk '/VmRSS|RssAnon|RssFile/ {printf "%s %s kB, ", $1, $2}' /proc/$spid/status)"
	# The server maps its database: its RSS counts the file's pages it has
	# touched (RssFile, page cache, reclaimable) besides its own memory
	# (RssAnon: heap, stacks). Sample both while the listing runs.
	(
		a=0 f=0
		while kill -0 "$spid" 2>/dev/null; do
			read -r ca cf < <(awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {print a, f}' /proc/$spid/status)
			[ "$ca" -gt "$a" ] && a=$ca
			[ "$cf" -gt "$f" ] && f=$cf
			echo "$a $f" >"$bin/server.rss"
			sleep 0.2
		done
	) &
	sampler=$!
	/usr/bin/time -f '%M %e' -o "$bin/cli.time" \
		"$bin/agentid" agent list --json --server "$url" --key "$data/admin.jwk" >"$bin/list.json"
	read -r cli_kb secs <"$bin/cli.time"
	read -r anon_kb file_kb <"$bin/server.rss"
	listed=$(grep -c '^    "did": ' "$bin/list.json" || true)
	echo "listed $listed agents in $secs s ($(du -h "$bin/list.json" | cut -f1) of JSON)"
	echo "peak RSS: server $(awk '/VmHWM/ {print $2, $3}' /proc/$spid/status) (of which, sampled every 0.2 s: own memory RssAnon $anon_kb kB, mapped database RssFile $file_kb kB), CLI $cli_kb kB"
	kill "$sampler" 2>/dev/null || true
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	if [ -z "${SEEDED_DIR:-}" ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; fi
	[ -n "${SEEDED_DIR:-}" ] && break
done
