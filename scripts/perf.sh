#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md: Go benchmarks with their
# baselines in the same run, then the loopback load tests of the verifier
# service and of HTTP issuance. Run it on an otherwise idle machine; it
# takes about nine minutes. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/agentid-perf}
mkdir -p "$out"
echo "== Go benchmarks (results in $out)"
go test ./vc -run '^$' -bench 'VerifyCredential|SignCredential' -cpu 1 -count 5 | tee "$out/vc.txt"
go test ./keystore -run '^$' -bench 'Sign' -cpu 1 -count 5 | tee "$out/keystore.txt"
go test ./did -run '^$' -bench 'PublicKeyFromKey|ResolveKeyDIDKey' -count 3 | tee "$out/did.txt"
go test ./statuslist/... -run '^$' -bench 'CheckCached|Resign|Memory' -count 3 | tee "$out/statuslist.txt"
go test ./verifier -run '^$' -bench 'Verify$' -cpu 1 -count 5 -benchtime 5000x | tee "$out/verifier.txt"
go test ./issuer -run '^$' -bench 'Issue' -benchtime 5000x -count 2 | tee "$out/issuer.txt"
go test ./internal/server -run '^$' -bench 'AuditOverhead' -benchtime 20000x -count 5 | tee "$out/audit-overhead.txt"

echo "== loopback load tests"
bin=$(mktemp -d)
go build -o "$bin/agentid" ./cmd/agentid
go build -o "$bin/loadgen" ./cmd/agentid-loadgen
go build -o "$bin/httpload" ./cmd/agentid-httpload
# load NAME GENERATOR ARGS...: a fresh data directory and server per run
# (an argument SERVERPID becomes the server's process id).
load() {
	local name=$1 gen=$2 data pid a args=()
	shift 2
	data=$(mktemp -d)
	"$bin/agentid" init --data "$data" --issuer-url http://localhost:18080 >/dev/null 2>&1
	"$bin/agentid" serve --data "$data" --addr 127.0.0.1:18080 --issuer-url http://localhost:18080 2>/dev/null &
	pid=$!
	for _ in $(seq 50); do curl -fs http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
	for a in "$@"; do [ "$a" = SERVERPID ] && a=$pid; args+=("$a"); done
	echo "== $name"
	"$bin/$gen" -server http://localhost:18080 -key "$data/admin.jwk" "${args[@]}" | tee "$out/load-$name.txt"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	rm -rf "$data"
}
# Verification at 32 connections and at saturation (128), with the
# project's load generator and with a plain net/http client
# (agentid-httpload, which also reports the server's CPU per request);
# issuance at 64 connections as in the table.
load verify-32 loadgen -mode verify -duration 10s -concurrency 32
load verify-128 loadgen -mode verify -duration 10s -concurrency 128
load httpload-32 httpload -duration 10s -c 32 -server-pid SERVERPID
load httpload-128 httpload -duration 10s -c 128 -server-pid SERVERPID
load issue-64 loadgen -mode issue -duration 10s -concurrency 64
rm -rf "$bin"
