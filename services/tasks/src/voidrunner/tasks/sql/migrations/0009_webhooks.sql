-- Webhooks: endpoints per user, one signing secret per user, and the deliveries they are owed.
-- A status change inserts its deliveries in the transaction that makes it (the deliveries are
-- their own outbox), so a delivery is owed exactly when the change committed, and the sender's
-- crash or restart only delays it: the row stays pending until an attempt's result is written.

-- One signing secret per user. During a rotation's overlap the previous one signs as well
-- (a second v1 signature), so receivers can switch over without dropping a message.
CREATE TABLE webhook_secrets (
    user_id uuid PRIMARY KEY,
    secret text NOT NULL CHECK (length(secret) <= 200),
    previous_secret text CHECK (length(previous_secret) <= 200),
    previous_valid_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    url text NOT NULL CHECK (length(url) <= 2048),
    event_types text[] NOT NULL,
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    enabled boolean NOT NULL DEFAULT true,
    -- Set when delivery stopped by itself: 'gone' (a 410) or 'failing' (days of failures).
    disabled_reason text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at DESC, id DESC);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The webhook-id header: one per event, the same on every attempt and redelivery, so a
    -- receiver de-duplicates what a crash between sending and recording made it get twice.
    message_id text NOT NULL,
    user_id uuid NOT NULL,
    -- NULL for an execution's callback_url (then `url` is where it goes).
    endpoint_id uuid REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    url text CHECK (length(url) <= 2048),
    event_type text NOT NULL,
    execution_id uuid NOT NULL,
    -- The exact bytes signed and sent (every attempt sends the same body).
    body text NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    -- A sender holds a pending delivery until then; past it another sender may take it over.
    leased_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (endpoint_id IS NOT NULL OR url IS NOT NULL)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_leased_idx ON webhook_deliveries (user_id)
    WHERE state = 'pending' AND leased_until IS NOT NULL;
CREATE INDEX webhook_deliveries_endpoint_idx
    ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    status_code integer,
    latency_ms integer NOT NULL,
    error text CHECK (length(error) <= 1000),
    PRIMARY KEY (delivery_id, attempt)
);

-- A task's callback URL, beside the task (its executions copy it when they start).
CREATE TABLE task_callbacks (
    task_id uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (length(url) <= 2048)
);
ALTER TABLE executions ADD COLUMN callback_url text CHECK (length(callback_url) <= 2048);
