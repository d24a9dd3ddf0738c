"""Delivery policy: rounds of sending, digests, quiet hours, hourly limits and source health."""
