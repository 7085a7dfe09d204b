-- The resume secret each session is bound to: a SHA-256 (hex) of the secret the SDK drew with the
-- session id, bound to its tenant and session (`ingest::conn::secret_hash`). The first
-- `SecureHello` of a session inserts it; every later `Hello` for the session, on any instance and
-- after a restart, must carry the same secret. Deleted with the tenant's session data at its
-- retention.
CREATE TABLE session_secrets (
    tenant_id TEXT NOT NULL,
    session TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session)
);
