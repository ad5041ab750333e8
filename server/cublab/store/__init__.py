"""Persistence: tables, the engine, the audit chain. Only the use cases call this."""
