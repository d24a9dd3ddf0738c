"""Scrapy spiders: one module per source type."""
