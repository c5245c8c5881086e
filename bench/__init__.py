"""Benchmarks of chatmem's hot paths against their floors and against peers (``python -m bench run``)."""
