#!/usr/bin/env bash
# Issuance and verification over HTTP on PostgreSQL with one and two
# replicas, with the bbolt single node measured in the same run as the
# baseline (and loadgen's raw ed25519 baseline in each run). The database,
# the replicas and the load generator share the machine. Figures are in
# docs/performance.md ("PostgreSQL and replicas").
#
#   scripts/perf-postgres.sh [OUT] [DURATION]     (ONLY='*verify' for a subset)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/agentid-perf-pg}
dur=${2:-10s}
mkdir -p "$out"
bin=$(mktemp -d /tmp/agentid-perf-bin.XXXXXX)
go build -o "$bin/agentid" ./cmd/agentid
go build -o "$bin/loadgen" ./cmd/agentid-loadgen
WORK=$(mktemp -d /tmp/agentid-perf-pg.XXXXXX)
PGBIN=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
AS=()
if [ "$(id -u)" = 0 ]; then
	u=postgres; id postgres >/dev/null 2>&1 || u=nobody
	chown "$u" "$WORK"; AS=(runuser -u "$u" --)
fi
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
cleanup() {
	stop_all
	"${AS[@]}" "$PGBIN/pg_ctl" stop -m fast -D "$WORK/pg" >/dev/null 2>&1 || true
	rm -rf "$WORK" "$bin"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U agentid --auth=trust -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" start -w -D "$WORK/pg" -l "$WORK/pg.log" -o "-k $WORK -c listen_addresses='' -c max_connections=200" >/dev/null

ready() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; return 1; }
URL=http://localhost:18080

# run NAME MODE CONC REPLICAS(bolt|1|2)
run() {
	local name=$1 mode=$2 conc=$3 kind=$4 data connect=()
	case $name in ${ONLY:-*}) ;; *) return 0 ;; esac
	case $kind in
	bolt)
		data=$WORK/bolt-$name
		"$bin/agentid" serve --data "$data" --addr 127.0.0.1:18080 --issuer-url $URL 2>"$data.log" &
		pids+=($!); ready 18080
		;;
	*)
		local db=p${name//-/_}
		"${AS[@]}" "$PGBIN/createdb" -h "$WORK" -U agentid "$db"
		local dsn="postgres:///$db?host=$WORK&user=agentid"
		data=$WORK/pg-$name-1
		"$bin/agentid" serve --data "$data" --store "$dsn" --addr 127.0.0.1:18080 --issuer-url $URL 2>"$data.log" &
		pids+=($!); ready 18080
		if [ "$kind" = 2 ]; then
			mkdir -p "$WORK/pg-$name-2"; cp "$data/master.key" "$WORK/pg-$name-2/"
			"$bin/agentid" serve --data "$WORK/pg-$name-2" --store "$dsn" --addr 127.0.0.1:18081 --issuer-url $URL 2>"$WORK/pg-$name-2.log" &
			pids+=($!); ready 18081
			connect=(-connect 127.0.0.1:18080,127.0.0.1:18081)
		fi
		;;
	esac
	echo "== $name: $mode, $kind, $conc connections, $dur"
	"$bin/loadgen" -mode "$mode" -server $URL -key "$data/admin.jwk" -duration "$dur" -concurrency "$conc" "${connect[@]}" | tee "$out/$name.txt"
	stop_all
}
run bolt-issue issue 64 bolt
run pg1-issue issue 64 1
run pg2-issue issue 64 2
run bolt-verify verify 128 bolt
run pg1-verify verify 128 1
run pg2-verify verify 128 2
