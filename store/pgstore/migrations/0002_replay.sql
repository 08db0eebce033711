-- Replay protection shared by replicas: the jtis of accepted
-- presentations (and the ids of consumed nonces), until they expire.
-- UNLOGGED: no WAL, so a write costs no flush; a crash of PostgreSQL
-- (not a clean restart) empties the table (see docs/deploy.md).
CREATE UNLOGGED TABLE agentid_replay (
	scope  text COLLATE "C" NOT NULL,
	holder text COLLATE "C" NOT NULL,
	jti    text COLLATE "C" NOT NULL,
	exp    bigint NOT NULL, -- Unix nanoseconds
	PRIMARY KEY (scope, holder, jti)
);
CREATE INDEX agentid_replay_exp ON agentid_replay (exp);
