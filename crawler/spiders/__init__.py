"""Scrapy spiders: feeds (``feed``), web pages (``pages``) and the per-source plans the web
spider follows (``plan``). Source kinds, which build those plans, are in crawler.sources."""
