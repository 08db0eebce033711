#!/usr/bin/env bash
# Starts, on one machine, a throwaway PostgreSQL cluster and two agentid
# replicas sharing it (see docs/deploy.md), then checks them:
#   - replica 1 (http://127.0.0.1:8080) initialises the database; replica 2
#     (http://127.0.0.1:8081) is given the same master key and the same
#     issuer URL, as behind a load balancer;
#   - an agent credential issued through replica 1 verifies on replica 2;
#   - the same presentation, replayed to replica 1, is refused (replayed);
#   - the audit chain verifies, holding the events of both.
# With --keep it leaves everything running and prints how to stop it;
# otherwise it stops both replicas and the database and removes WORK.
#
#   AGENTID=path/to/agentid [P1=8080 P2=8081] scripts/two-replicas.sh [--keep]
#
# P1 and P2 are the replicas' ports (the issuer URL is http://localhost:$P1).
#
# It needs initdb and pg_ctl (PATH or /usr/lib/postgresql/*/bin) and, when
# run as root, the user postgres (or nobody) to run the database as.
set -euo pipefail

AGENTID=${AGENTID:-agentid}
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
WORK=$(mktemp -d /tmp/agentid-two-replicas.XXXXXX)
P1=${P1:-8080}
P2=${P2:-8081}
ISSUER=http://localhost:$P1

PGBIN=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
[ -x "$PGBIN/initdb" ] || { echo "two-replicas: PostgreSQL not found (initdb)" >&2; exit 1; }
AS=()
if [ "$(id -u)" = 0 ]; then
	PGUSER_OS=postgres
	id postgres >/dev/null 2>&1 || PGUSER_OS=nobody
	chown "$PGUSER_OS" "$WORK"
	AS=(runuser -u "$PGUSER_OS" --)
fi
pids=()
cleanup() {
	if [ "$KEEP" = 1 ]; then return; fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"${AS[@]}" "$PGBIN/pg_ctl" stop -m fast -D "$WORK/pg" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "== PostgreSQL in $WORK/pg (unix socket only)"
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U agentid --auth=trust -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" start -w -D "$WORK/pg" -l "$WORK/pg.log" -o "-k $WORK -c listen_addresses=''" >/dev/null
"${AS[@]}" "$PGBIN/createdb" -h "$WORK" -U agentid agentid
DSN="postgres:///agentid?host=$WORK&user=agentid"
mkdir -p "$WORK/r1" "$WORK/r2"

wait_ready() {
	for _ in $(seq 1 100); do
		if curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "two-replicas: replica on :$1 not ready; its log:" >&2
	cat "$2" >&2
	return 1
}

echo "== replica 1 on :$P1 (initialises the database)"
AGENTID_DATABASE_URL=$DSN "$AGENTID" serve --data "$WORK/r1" --addr "127.0.0.1:$P1" --issuer-url "$ISSUER" >"$WORK/r1.out" 2>"$WORK/r1.log" &
pids+=($!)
wait_ready "$P1" "$WORK/r1.log"
cp "$WORK/r1/master.key" "$WORK/r2/master.key"
echo "== replica 2 on :$P2 (same database, same master key, same issuer URL)"
"$AGENTID" serve --data "$WORK/r2" --store "$DSN" --addr "127.0.0.1:$P2" --issuer-url "$ISSUER" >"$WORK/r2.out" 2>"$WORK/r2.log" &
pids+=($!)
wait_ready "$P2" "$WORK/r2.log"

echo "== migrations"
"$AGENTID" migrate status --store "$DSN"

echo "== issue through replica 1, verify on replica 2, replay to replica 1"
export AGENTID_SERVER=$ISSUER AGENTID_KEY=$WORK/r1/admin.jwk
"$AGENTID" did keygen --out "$WORK/agent.jwk" >/dev/null
"$AGENTID" agent issue --subject-key "$WORK/agent.jwk" --scopes calendar:read --audience https://calendar.example.com \
	--owner demo --purpose two-replicas >"$WORK/cred.jwt"
"$AGENTID" present --key "$WORK/agent.jwk" --credential "$WORK/cred.jwt" --aud https://calendar.example.com >"$WORK/vp.jwt"
"$AGENTID" verify --server "http://127.0.0.1:$P2" --aud https://calendar.example.com <"$WORK/vp.jwt" >"$WORK/v2.json"
grep -q '"valid": *true' "$WORK/v2.json" || { echo "two-replicas: replica 2 refused the credential:" >&2; cat "$WORK/v2.json" >&2; exit 1; }
echo "replica 2: valid"
if "$AGENTID" verify --server "http://127.0.0.1:$P1" --aud https://calendar.example.com <"$WORK/vp.jwt" >"$WORK/v1.json"; then
	echo "two-replicas: replica 1 accepted a presentation replica 2 had accepted" >&2; cat "$WORK/v1.json" >&2; exit 1
fi
grep -q '"replayed"' "$WORK/v1.json" || { echo "two-replicas: replica 1's refusal is not replayed:" >&2; cat "$WORK/v1.json" >&2; exit 1; }
echo "replica 1: replayed (refused)"

echo "== audit chain"
"$AGENTID" audit verify

if [ "$KEEP" = 1 ]; then
	echo "== running: replicas pids ${pids[*]}, database $DSN"
	echo "stop: kill ${pids[*]}; ${AS[*]} $PGBIN/pg_ctl stop -D $WORK/pg; rm -rf $WORK"
else
	echo "== ok; stopping"
fi
