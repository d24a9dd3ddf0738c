"""Fetching, parsing, extracting, canonicalising, deduplicating and storing articles."""
