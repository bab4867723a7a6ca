-- The event log (DESIGN.md §4): one append-only table, one row per recorded
-- event, chained by SHA-256. Rows are never updated or deleted.

CREATE TABLE events (
    position        bigint      PRIMARY KEY CHECK (position > 0),
    event_id        uuid        NOT NULL UNIQUE,
    type            text        NOT NULL,
    case_id         text,
    agent_id        text        NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- The canonical JSON text the chain covers, byte for byte.
    payload         text        NOT NULL,
    -- SHA-256 of the canonical client fields alone (no position, no
    -- recorded_at): what an idempotent retry is compared with.
    content_digest  bytea       NOT NULL CHECK (length(content_digest) = 32),
    -- hash(n) = SHA-256(hash(n-1) || payload(n)), hash(0) = 32 zero bytes.
    hash            bytea       NOT NULL CHECK (length(hash) = 32)
);

CREATE INDEX events_by_case ON events (case_id, position) WHERE case_id IS NOT NULL;

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the events table is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'record a correcting event (compensation_reversal) instead';
END
$$;

CREATE TRIGGER events_append_only_rows
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_append_only_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;

-- The position and hash the projection tables reflect, written in the same
-- transaction as the events they follow.
CREATE TABLE ledger_checkpoint (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    position   bigint      NOT NULL CHECK (position >= 0),
    hash       bytea       NOT NULL CHECK (length(hash) = 32),
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO ledger_checkpoint (position, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');
