#!/usr/bin/env bash
# Issuance and verification over HTTP on PostgreSQL with one and two
# replicas, with the bbolt single node measured in the same run as the
# baseline (and loadgen's raw ed25519 baseline in each run). The database,
# the replicas and the load generator share the machine. Figures are in
# docs/performance.md ("PostgreSQL and replicas").
#
#   scripts/perf-postgres.sh [OUT] [DURATION]     (ONLY='*verify' for a subset)
#
# WARM=8s first sends the same load, unmeasured, to each server.
# PGSET='-c commit_delay=100' adds server settings to the throwaway
# cluster (fsync and synchronous_commit stay on unless named). STATS=1
# loads pg_stat_statements and writes, per PostgreSQL run, the statements
# by calls (OUT/NAME-statements.txt). Each run writes the CPU seconds the
# agentid processes and the database used (OUT/NAME-cpu.txt).
# GEN=httpload sends the verifications from agentid-httpload (a plain
# net/http client) instead of agentid-loadgen; it drives one server, so the
# runs with two replicas and issuance are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/agentid-perf-pg}
dur=${2:-10s}
mkdir -p "$out"
bin=$(mktemp -d /tmp/agentid-perf-bin.XXXXXX)
go build -o "$bin/agentid" ./cmd/agentid
go build -o "$bin/loadgen" ./cmd/agentid-loadgen
go build -o "$bin/httpload" ./cmd/agentid-httpload
gen=${GEN:-loadgen}
case $gen in loadgen | httpload) ;; *) echo "GEN is loadgen or httpload" >&2; exit 2 ;; esac
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
pgopts="-k $WORK -c listen_addresses='' -c max_connections=200 ${PGSET:-}"
[ -n "${STATS:-}" ] && pgopts+=" -c shared_preload_libraries=pg_stat_statements"
"${AS[@]}" "$PGBIN/pg_ctl" start -w -D "$WORK/pg" -l "$WORK/pg.log" -o "$pgopts" >/dev/null
PSQL=("${AS[@]}" "$PGBIN/psql" -h "$WORK" -U agentid -X -q -A -F' ')
echo "database: $("${PSQL[@]}" -d postgres -t -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync','synchronous_commit','commit_delay','commit_siblings','wal_sync_method','shared_buffers')")" | tee "$out/settings.txt"
# cpu PIDS...: CPU seconds (user+system) of the processes and their children still running.
cpu() {
	local t=0 p
	for p in "$@"; do
		for q in $p $(pgrep -P "$p" || true); do
			[ -r /proc/$q/stat ] && t=$((t + $(awk '{print $14+$15}' /proc/$q/stat)))
		done
	done
	echo "$t"
}
pgmain=$(head -1 "$WORK/pg/postmaster.pid")

ready() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "server on :$1 not ready" >&2; return 1; }
for p in ${PORT:-18080} $((${PORT:-18080} + 1)); do
	if curl -s -o /dev/null "http://127.0.0.1:$p/"; then echo "port $p is in use: set PORT" >&2; exit 1; fi
done
P1=${PORT:-18080} # PORT=… when another run on the machine holds 18080/18081
P2=$((P1 + 1))
URL=http://localhost:$P1

# run NAME MODE CONC REPLICAS(bolt|1|2)
run() {
	local name=$1 mode=$2 conc=$3 kind=$4 data connect=()
	case $name in ${ONLY:-*}) ;; *) return 0 ;; esac
	if [ "$gen" = httpload ] && { [ "$mode" != verify ] || [ "$kind" = 2 ]; }; then return 0; fi
	case $kind in
	bolt)
		data=$WORK/bolt-$name
		"$bin/agentid" serve --data "$data" --addr 127.0.0.1:$P1 --issuer-url $URL 2>"$data.log" &
		pids+=($!); ready $P1
		;;
	*)
		local db=p${name//-/_}
		"${AS[@]}" "$PGBIN/createdb" -h "$WORK" -U agentid "$db"
		[ -n "${STATS:-}" ] && "${PSQL[@]}" -d "$db" -c "CREATE EXTENSION pg_stat_statements"
		local dsn="postgres:///$db?host=$WORK&user=agentid"
		data=$WORK/pg-$name-1
		"$bin/agentid" serve --data "$data" --store "$dsn" --addr 127.0.0.1:$P1 --issuer-url $URL 2>"$data.log" &
		pids+=($!); ready $P1
		if [ "$kind" = 2 ]; then
			mkdir -p "$WORK/pg-$name-2"; cp "$data/master.key" "$WORK/pg-$name-2/"
			"$bin/agentid" serve --data "$WORK/pg-$name-2" --store "$dsn" --addr 127.0.0.1:$P2 --issuer-url $URL 2>"$WORK/pg-$name-2.log" &
			pids+=($!); ready $P2
			connect=(-connect 127.0.0.1:$P1,127.0.0.1:$P2)
		fi
		;;
	esac
	if [ -n "${WARM:-}" ]; then
		# An unmeasured run first, the same load, so that the measured one
		# sees a server (and database) in its steady state, as in production.
		"$bin/loadgen" -mode "$mode" -server $URL -key "$data/admin.jwk" -duration "$WARM" -concurrency "$conc" "${connect[@]}" >"$out/$name-warm.txt"
	fi
	echo "== $name: $mode, $kind, $conc connections, $dur, $gen${WARM:+, after a $WARM warm-up}"
	local a0 d0 a1 d1 lp
	if [ "$gen" = httpload ]; then
		"$bin/httpload" -server $URL -key "$data/admin.jwk" -duration "$dur" -c "$conc" >"$out/$name.txt" &
	else
		"$bin/loadgen" -mode "$mode" -server $URL -key "$data/admin.jwk" -duration "$dur" -concurrency "$conc" "${connect[@]}" >"$out/$name.txt" &
	fi
	lp=$!
	# The timed phase starts after loadgen's baseline: count from there
	# (its preparation asks the server for nonces).
	while ! grep -q '^baseline:' "$out/$name.txt" && kill -0 $lp 2>/dev/null; do sleep 0.05; done
	[ -n "${STATS:-}" ] && [ "$kind" != bolt ] && "${PSQL[@]}" -d "$db" -c "SELECT pg_stat_statements_reset(), pg_stat_reset()" >/dev/null
	a0=$(cpu "${pids[@]}"); d0=$(cpu "$pgmain")
	wait $lp
	a1=$(cpu "${pids[@]}"); d1=$(cpu "$pgmain")
	cat "$out/$name.txt"
	# clock ticks (1/100 s) of agentid (the server processes) and of PostgreSQL
	echo "cpu seconds: agentid $(((a1 - a0) / 100)).$(printf %02d $(((a1 - a0) % 100))), postgres $(((d1 - d0) / 100)).$(printf %02d $(((d1 - d0) % 100)))" | tee "$out/$name-cpu.txt"
	if [ -n "${STATS:-}" ] && [ "$kind" != bolt ]; then
		"${PSQL[@]}" -d "$db" -c "SELECT calls, round(total_exec_time) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, round(max_exec_time::numeric, 1) AS max_ms, rows, regexp_replace(left(query, 90), '\s+', ' ', 'g') AS query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC LIMIT 20" >"$out/$name-statements.txt"
		"${PSQL[@]}" -d "$db" -t -c "SELECT 'commits ' || xact_commit || ' rollbacks ' || xact_rollback FROM pg_stat_database WHERE datname = current_database()" >>"$out/$name-statements.txt"
	fi
	stop_all
}
run bolt-issue issue 64 bolt
run pg1-issue issue 64 1
run pg2-issue issue 64 2
run bolt-verify verify 128 bolt
run pg1-verify verify 128 1
run pg2-verify verify 128 2
run bolt-verify32 verify 32 bolt
run pg1-verify32 verify 32 1
