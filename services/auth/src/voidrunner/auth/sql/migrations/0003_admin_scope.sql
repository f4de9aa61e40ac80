-- API keys may carry the admin scope (given only by an admin; see contracts/api_keys.py).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'run', 'manage', 'admin']);
