-- Two-factor sign-in (RFC 6238 TOTP). A row exists from enrolment; it counts once confirmed
-- with a first code. `last_step` is the newest 30-second step accepted, so a code seen once
-- (over a shoulder, in a proxy log) cannot sign in again.
CREATE TABLE totp (
    teammate_id UUID PRIMARY KEY REFERENCES teammates(id),
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT
);

-- One-time recovery codes, hashed like tokens; a used one keeps its row with `used_at`.
CREATE TABLE recovery_codes (
    teammate_id UUID NOT NULL REFERENCES teammates(id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (teammate_id, code_hash)
);
