"""Integrations with outside systems (scrapers, payment providers, messaging)."""
