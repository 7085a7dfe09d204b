-- Identity, tenants and the customer's relationship score (docs/identity.md).
-- How the tenant's visitor tokens are verified (JSON of jwt::TokenPolicy; empty: HS256 with
-- tenants.jwt_secret) and how long its session data is kept.
ALTER TABLE tenants ADD COLUMN token_policy TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN retention_days BIGINT NOT NULL DEFAULT 365;

-- API keys: publishable (the SDK's site key, stored as is) and secret (stored as SHA-256 only,
-- shown once). The tenant's first keys are copied from the tenants row.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    lookup TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
INSERT INTO api_keys (id, tenant_id, kind, lookup, hint, created_ms)
    SELECT 'key_pk_' || id, id, 'publishable', site_key, substr(site_key, -4), created_ms FROM tenants;
INSERT INTO api_keys (id, tenant_id, kind, lookup, hint, created_ms)
    SELECT 'key_sk_' || id, id, 'secret', secret_key_hash, '', created_ms FROM tenants;

-- Dashboard users: email sealed (secrets::Keyring) with a blind index for login, argon2id hash.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    email_index TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, email_index)
);

-- The host's end customers (the `sub` of their visitor token), their strength and segment.
CREATE TABLE customers (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    sub TEXT NOT NULL,
    account TEXT,
    name TEXT,
    email TEXT,
    email_index TEXT,
    company TEXT,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    strength DOUBLE PRECISION NOT NULL DEFAULT 0,
    segment TEXT NOT NULL DEFAULT 'steady',
    factors TEXT NOT NULL DEFAULT '[]',
    scored_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, sub)
);
CREATE INDEX customers_by_strength ON customers (tenant_id, strength, sub);
CREATE INDEX customers_by_segment ON customers (tenant_id, segment, strength, sub);
CREATE INDEX customers_by_account ON customers (tenant_id, account);

-- One-tap states a customer shares (busy, stuck, exploring, frustrated), each with its expiry.
CREATE TABLE contexts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    sub TEXT NOT NULL,
    state TEXT NOT NULL,
    set_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX contexts_by_customer ON contexts (tenant_id, sub, set_ms);

-- Daily strength snapshots (the last score of each UTC day).
CREATE TABLE strength_snapshots (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    sub TEXT NOT NULL,
    day BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    factors TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sub, day)
);

-- Who changed thresholds, contacts, keys, roles, identity settings, and who opened a session
-- view or exported or erased a person. Append-only: the database refuses updates and deletes.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (tenant_id, at_ms, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Erasures: which person (pseudonymous reference, never their id) was erased when, so events
-- about them still in flight when they were erased are not written afterwards.
CREATE TABLE erasures (
    tenant_id TEXT NOT NULL,
    person TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, person)
);

CREATE INDEX transactions_by_account ON transactions (tenant_id, account, at_ms);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_sub, started_ms);
CREATE INDEX detections_by_user ON detections (tenant_id, user_sub, created_ms);
