"""The use cases: the one layer that enforces every rule. Adapters (MCP, CLI) only translate."""
