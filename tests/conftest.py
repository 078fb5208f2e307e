"""Fixtures shared by every test package: the throw-away PostgreSQL cluster."""

from __future__ import annotations

from tests._postgres import postgres_cluster, postgres_dsn

__all__ = ["postgres_cluster", "postgres_dsn"]
