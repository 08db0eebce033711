-- The store seam's buckets: ordered byte keys to byte values.
--
-- A key may be up to 32 KiB (store.MaxKeySize), more than a btree entry
-- holds (about 2.7 kB), so the index is on the key's first 1024 bytes and
-- its SHA-256: unique per key, and in key order, because truncation keeps
-- byte order and ties are broken by the full key (ORDER BY kprefix, key).
CREATE TABLE agentid_kv (
	bucket  text COLLATE "C" NOT NULL,
	key     bytea NOT NULL,
	value   bytea NOT NULL,
	kprefix bytea GENERATED ALWAYS AS (substring(key FROM 1 FOR 1024)) STORED,
	khash   bytea GENERATED ALWAYS AS (sha256(key)) STORED,
	PRIMARY KEY (bucket, kprefix, khash)
);
