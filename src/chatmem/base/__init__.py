"""The bottom layer: primitives every other layer may import (the clock, domain errors, JSON types).

It imports nothing else from chatmem (docs/architecture.md, the import contract in pyproject.toml).
"""
