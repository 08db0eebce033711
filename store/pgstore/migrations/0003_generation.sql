-- A counter per announcement topic, incremented by every transaction that
-- announces on it (in the transaction): a replica that caches what a
-- topic covers (status bits) reads one row to know whether its cache is
-- still current, without waiting for a notification.
CREATE TABLE agentid_generation (
	topic text COLLATE "C" PRIMARY KEY,
	gen   bigint NOT NULL
);
