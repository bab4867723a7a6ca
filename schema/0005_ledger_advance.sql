-- The checkpoint moves only from the head a batch was decided after. The
-- writer sends batch n + 1 before batch n has committed (pipelining); if n
-- fails, this is what makes n + 1 fail too rather than leave a gap.
CREATE FUNCTION ledger_advance(expected_position bigint, expected_hash bytea, new_position bigint, new_hash bytea)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledger_checkpoint SET position = new_position, hash = new_hash, updated_at = now()
    WHERE position = expected_position AND hash = expected_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the ledger does not end at position % as this batch expects', expected_position
            USING ERRCODE = 'serialization_failure';
    END IF;
END
$$;
