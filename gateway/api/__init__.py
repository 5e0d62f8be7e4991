"""Broker REST API (FastAPI): accounts, cash movements, positions, orders, fills, health and metrics."""
