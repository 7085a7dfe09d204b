-- Tenant-tunable detector thresholds: JSON of the values a tenant set (server/src/thresholds.rs).
ALTER TABLE tenants ADD COLUMN thresholds TEXT NOT NULL DEFAULT '{}';
