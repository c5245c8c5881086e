"""Memory search: vector (exact or pgvector HNSW), full-text (FTS5 / PostgreSQL), hybrid (RRF), MMR and
Zep's JSONPath metadata filters. ``service.Searcher`` is the entry point; docs/search.md explains it."""
