"""Background enrichment: a durable job queue in the database, token counts, embeddings and summaries.

Appending messages enqueues one ``ingest`` job in the same transaction (``chatmem.store.jobs.ingest_job``).
Workers (threads in ``chatmem serve``, or ``chatmem worker`` processes) claim due jobs, count tokens, fan
out to embedding and summarizing jobs, and retry failures with backoff until they are marked dead.
"""
