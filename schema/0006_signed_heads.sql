-- Every head the daemon signs (DESIGN.md §5, "Signed heads"): at least every
-- 10 s while appends flow, and each one a HEAD request returns. The signature
-- is Ed25519 over 'recoveryd-head:v1:<ledger>:<position>:<hash hex>:<signed_at>'
-- by signing_key. An auditor who saved one can hold any later log to it; this
-- table is the daemon's own record of what it has vouched for.
CREATE TABLE signed_heads (
    position     bigint NOT NULL CHECK (position >= 0),
    hash         bytea  NOT NULL CHECK (length(hash) = 32),
    ledger       text   NOT NULL,
    signed_at    text   NOT NULL,
    signing_key  bytea  NOT NULL CHECK (length(signing_key) = 32),
    signature    bytea  NOT NULL CHECK (length(signature) = 64),
    PRIMARY KEY (position, signed_at)
);
