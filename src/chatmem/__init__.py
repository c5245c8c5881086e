"""chatmem."""
