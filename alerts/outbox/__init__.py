"""Queue state: matches, the outbox of deliveries, notices, mutes and retry policy."""
