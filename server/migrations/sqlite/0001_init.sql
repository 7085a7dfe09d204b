-- Tenants, their accounts and value, escalation contacts, and what happened in sessions.
-- Times are milliseconds since the Unix epoch; money is integer cents.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    site_key TEXT NOT NULL UNIQUE,
    secret_key_hash TEXT NOT NULL UNIQUE,
    jwt_secret TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE accounts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (tenant_id, account)
);
CREATE TABLE transactions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    host_id TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, host_id)
);
CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE sessions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    user_sub TEXT,
    account TEXT,
    page TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session)
);
CREATE TABLE detections (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    emotion TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    client_confidence DOUBLE PRECISION NOT NULL,
    section TEXT NOT NULL,
    user_sub TEXT,
    user_name TEXT,
    account TEXT,
    account_name TEXT,
    value_cents BIGINT NOT NULL,
    features TEXT NOT NULL,
    evidence BLOB NOT NULL,
    t_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session, seq)
);
CREATE TABLE interventions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    emotion TEXT NOT NULL,
    text TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    provider_id TEXT,
    error TEXT,
    attempts BIGINT NOT NULL,
    link TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX detections_by_time ON detections (tenant_id, created_ms);
CREATE INDEX interventions_by_time ON interventions (tenant_id, created_ms);
CREATE INDEX alerts_by_time ON alerts (tenant_id, created_ms);
