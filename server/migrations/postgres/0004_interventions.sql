-- Interventions that learn (docs/interventions.md): tenant variants per (emotion, section), the
-- Beta posterior counts of each, and every decision with its seed and posterior state.
ALTER TABLE tenants ADD COLUMN holdout_share DOUBLE PRECISION NOT NULL DEFAULT 0.1;
ALTER TABLE tenants ADD COLUMN outcome_window_ms BIGINT NOT NULL DEFAULT 1800000;
CREATE TABLE variants (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    emotion TEXT NOT NULL,
    section TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE arms (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    emotion TEXT NOT NULL,
    section TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    successes BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, emotion, section, variant_id)
);
CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sub TEXT,
    emotion TEXT NOT NULL,
    section TEXT NOT NULL,
    holdout BIGINT NOT NULL,
    variant_id TEXT,
    holdout_share DOUBLE PRECISION NOT NULL,
    decision TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    outcome TEXT,
    converted BIGINT,
    outcome_ms BIGINT
);
CREATE INDEX decisions_by_session ON decisions (tenant_id, session, created_ms);
CREATE INDEX decisions_by_user ON decisions (tenant_id, sub, created_ms);
CREATE INDEX decisions_by_time ON decisions (tenant_id, created_ms);
-- Conversation cards: a prepared opener for a human, queued pending -> actioned -> completed.
CREATE TABLE cards (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    sub TEXT,
    emotion TEXT NOT NULL,
    section TEXT NOT NULL,
    opener TEXT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT,
    actor TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX cards_by_state ON cards (tenant_id, state, created_ms);
