-- Escalation chains (docs/escalation.md): who is paged for which account value, on which
-- channels in order, and every escalation persisted before its first page so that it survives a
-- restart and is paged by exactly one instance at a time (a claim with a lease).
ALTER TABLE contacts ADD COLUMN min_value_cents BIGINT NOT NULL DEFAULT 0;
CREATE TABLE contact_fallbacks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    priority BIGINT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX contact_fallbacks_by_contact ON contact_fallbacks (tenant_id, contact_id, priority);
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sub TEXT,
    person_name TEXT NOT NULL,
    account_name TEXT NOT NULL,
    emotion TEXT NOT NULL,
    section TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    value_cents BIGINT NOT NULL,
    state TEXT NOT NULL,
    step BIGINT NOT NULL,
    next_at_ms BIGINT NOT NULL,
    claimed_by TEXT,
    claim_until_ms BIGINT NOT NULL,
    acked_by TEXT,
    acked_ms BIGINT,
    detected_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX escalations_due ON escalations (state, next_at_ms);
CREATE INDEX escalations_by_time ON escalations (tenant_id, created_ms);
ALTER TABLE alerts ADD COLUMN escalation_id TEXT;
ALTER TABLE alerts ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';
