#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md: Go benchmarks with their
# baselines in the same run, then the loopback load tests of the verifier
# service and of HTTP issuance. Run it on an otherwise idle machine; it
# takes about five minutes. Traffic goes to 127.0.0.1 only.
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
go test ./internal/server -run '^$' -bench 'AuditOverhead' -benchtime 20000x -count 2 | tee "$out/audit-overhead.txt"

echo "== loopback load tests"
bin=$(mktemp -d)
go build -o "$bin/agentid" ./cmd/agentid
go build -o "$bin/loadgen" ./cmd/agentid-loadgen
for mode in verify issue; do
	data=$(mktemp -d)
	"$bin/agentid" init --data "$data" --issuer-url http://localhost:18080 >/dev/null 2>&1
	"$bin/agentid" serve --data "$data" --addr 127.0.0.1:18080 --issuer-url http://localhost:18080 2>/dev/null &
	pid=$!
	for _ in $(seq 50); do curl -fs http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
	# 128 connections for verification (the service is latency-bound at 64,
	# see docs/performance.md), 64 for issuance as in the table.
	conc=128; [ "$mode" = issue ] && conc=64
	"$bin/loadgen" -mode "$mode" -server http://localhost:18080 -key "$data/admin.jwk" -duration 10s -concurrency "$conc" | tee "$out/load-$mode.txt"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	rm -rf "$data"
done
rm -rf "$bin"
