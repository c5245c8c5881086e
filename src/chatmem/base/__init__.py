"""The bottom layer: primitives every other layer may import (the clock, domain errors, JSON types, the
Prometheus metrics, the log format).

It imports nothing else from chatmem (docs/architecture.md, the import contract in pyproject.toml).
"""
