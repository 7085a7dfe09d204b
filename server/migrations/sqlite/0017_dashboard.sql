-- The dashboard (docs/forensics.md): signed-in sessions that sign-out and owners can revoke,
-- struggles an operator reported as not a struggle (false positives), and the tenant's opt-in
-- to a public failure page.
CREATE TABLE dashboard_sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (tenant_id, user_id);
CREATE TABLE false_positives (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    session TEXT NOT NULL,
    seq BIGINT NOT NULL,
    emotion TEXT NOT NULL,
    section TEXT NOT NULL,
    reporter TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session, seq)
);
CREATE INDEX false_positives_by_time ON false_positives (tenant_id, created_ms);
CREATE TABLE public_pages (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    failures BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
