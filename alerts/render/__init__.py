"""Rendering: alert messages, MIME, templates and webhook formats."""
