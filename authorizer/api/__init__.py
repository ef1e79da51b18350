"""The API adapters: the decision for an HTTP API (payload 2.0) and for a REST API."""
