"""Delivery channels: one module per channel type."""
