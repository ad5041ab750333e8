"""cublab: agents experiment beside the configuration authority; only governed outcomes reach it."""

__version__ = "0.1.0"
