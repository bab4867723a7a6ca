-- The ledger's settings that recorded history depends on: business days are
-- derived from recorded_at in this time zone, and amounts are in this currency.
-- Written by the first daemon start; a later start with other settings is refused.
CREATE TABLE ledger_settings (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    currency   text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    time_zone  text    NOT NULL
);
