"""The configuration authority cublab proposes into: embedded (default) or ConfigHub over HTTP."""
