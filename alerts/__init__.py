"""Rules, matching, rendering, delivery and the outbox."""
