-- SMS and API channels: a case remembers the channel it came in on (its replies go out there),
-- and an outbound message keeps the provider's id for it (Twilio's MessageSid) so that status
-- callbacks find it.
ALTER TABLE cases ADD COLUMN channel_id UUID;
ALTER TABLE messages ADD COLUMN provider_id TEXT;
CREATE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;
