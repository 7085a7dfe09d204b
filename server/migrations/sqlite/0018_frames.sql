-- The ingest journal: one row per data frame the server acknowledged to a page. A frame is
-- acknowledged only once its row (and every event it caused) is durable, so these rows are what
-- was acknowledged; re-processing a frame (resent after a reconnect, redelivered by the bus)
-- finds its row and writes nothing. Rows older than the journal's retention are pruned.
CREATE TABLE frames (
    tenant_id TEXT NOT NULL,
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session, seq)
);
CREATE INDEX frames_by_time ON frames (received_ms);
