"""Settings: every knob is a ``CHATMEM_*`` environment variable (or a line in ``.env``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/chatmem`` (``~/.local/share/chatmem``): where the SQLite file lives by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "chatmem"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATMEM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="",
        description="sqlite:///path/to/file.db or postgresql://user@host:port/db; "
        "empty means a SQLite file in data_dir",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)

    message_window: int = Field(default=12, ge=1, description="messages GET memory returns without lastn")
    max_request_size: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="bytes; larger bodies get 413"
    )
    fast_path: bool = Field(
        default=True,
        description="answer GET/POST memory without FastAPI's per-request machinery (server/fast_routes.py); "
        "false sends them through the FastAPI routes, with the same answers",
    )
    group_commit: bool = Field(
        default=True,
        description="appends (SQLite: all writes) that arrive while a commit is in flight are written "
        "in one transaction, each in its own savepoint (store/group_commit.py)",
    )
    purge_every_minutes: float = Field(
        default=60, ge=0, description="how often the server hard-deletes soft-deleted data; 0 disables"
    )
    db_pool_size: int = Field(default=8, ge=1, description="PostgreSQL connections per server process")
    log_level: str = "info"

    # --- Access (docs/security.md) ----------------------------------------------------------------------
    auth: Literal["off", "on"] = Field(
        default="off",
        description="on: every /api/v1 request needs an API key or a JWT; off: everything is the default "
        "tenant (allowed only on a loopback address)",
    )
    auth_jwt_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HS256 secret of Zep-style JWTs (Zep's ZEP_AUTH_SECRET); empty: no JWTs",
    )
    admin_ui: bool = Field(default=True, description="serve the admin web page at /admin (docs/admin.md)")
    admin_secret: SecretStr = Field(
        default=SecretStr(""),
        description="key that signs the admin page's session cookies; empty: a random one per "
        "`chatmem serve` (sessions end when it restarts)",
    )
    admin_session_hours: float = Field(
        default=8, gt=0, le=24 * 30, description="an admin page sign-in lasts this long"
    )
    cors_origins: str = Field(
        default="",
        description="comma-separated origins browsers may call from ('*' for any); empty: CORS off",
    )
    dangerously_allow_public_without_auth: bool = Field(
        default=False, description="let `chatmem serve` listen on a non-loopback address with auth off"
    )

    # --- Limits on what one client can make the server do (docs/limits.md) ----------------------------
    allowed_hosts: str = Field(
        default="",
        description="Host header values the server answers (comma-separated, * for any, *.example.com "
        "for a domain); empty = localhost, 127.0.0.1, ::1 and CHATMEM_HOST",
    )
    api_docs: bool = Field(default=True, description="serve /docs (Swagger UI from the package, no CDN)")
    max_page_size: int = Field(
        default=1000, ge=1, description="largest ?limit of a list; a list without ?limit returns this many"
    )
    max_lastn: int = Field(default=1000, ge=1, description="largest ?lastn of GET memory")
    header_timeout_seconds: float = Field(
        default=10, gt=0, description="a connection that has not sent a whole request head by then is closed"
    )
    body_timeout_seconds: float = Field(
        default=30, gt=0, description="a request body that has not arrived by then gets 408"
    )
    keep_alive_seconds: float = Field(default=5, gt=0, description="idle keep-alive connections close after")
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="open connections per server process; beyond it the longest-idle one is closed",
    )

    # --- Operations (docs/deploy.md) ------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field(
        default="text", description="text | json (one JSON object per line)"
    )
    access_log: bool = Field(default=True, description="one log line per request (chatmem.access)")
    metrics: bool = Field(default=True, description="count requests for GET /metrics; false: no /metrics")
    metrics_public: bool = Field(
        default=False, description="serve /metrics without an admin credential when auth is on"
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="where `chatmem serve` keeps the per-process metric files (emptied at start); "
        "empty = a fresh temporary directory",
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="`chatmem worker` serves its own /metrics on this port (on CHATMEM_HOST, without "
        "auth: private networks only); 0 = off",
    )
    shutdown_grace_seconds: int = Field(
        default=30,
        ge=0,
        description="after SIGTERM: time for in-flight requests and the jobs workers hold; jobs still "
        "held then go back to the queue",
    )

    @field_validator("log_level")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def auth_on(self) -> bool:
        return self.auth == "on"

    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'chatmem.db'}"

    # --- Background enrichment (docs/enrichment.md) ----------------------------------------------------
    enrich_workers: int = Field(
        default=2,
        ge=0,
        description="worker threads inside each server process (two: the model on both cores when requests "
        "leave them idle); 0 = run `chatmem worker`",
    )
    enrich_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="nice value of the worker threads inside a server process (Linux): the requests come "
        "first, enrichment takes the CPU they leave; 0 = same priority",
    )
    enrich_busy_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="while requests keep a server busy, the share of the time its worker threads may work "
        "(the pool's share, split between its threads): after each batch a worker pauses in proportion to "
        "the time requests were in flight during it, which spares the database its statements too; "
        "1 = no pauses",
    )
    enrich_poll_seconds: float = Field(default=0.25, gt=0, description="idle wait between queue polls")
    enrich_batch_size: int = Field(default=32, ge=1, description="jobs one worker claims at a time")
    enrich_lease_seconds: float = Field(
        default=300, gt=0, description="a claimed job not finished by then is handed to another worker"
    )
    enrich_max_attempts: int = Field(default=5, ge=1, description="tries before a job is marked dead")
    enrich_retry_seconds: float = Field(default=2, ge=0, description="first retry delay; doubles per try")
    enrich_retry_max_seconds: float = Field(default=300, ge=0)
    enrich_job_seconds: float = Field(
        default=30,
        gt=0,
        description="time one summary job may spend before it hands the rest of its work to a new job",
    )
    token_counts: bool = Field(default=True, description="tiktoken cl100k_base counts for messages")

    embeddings: Literal["auto", "local", "openai", "off"] = Field(
        default="auto", description="auto (= local) | local | openai | off"
    )
    embeddings_model: str = Field(
        default="",
        description="local: all-MiniLM-L6-v2 (packaged) when empty, or a hub name (fetched once into "
        "data_dir/models) or a model directory; openai: text-embedding-3-small when empty",
    )
    embeddings_hub_url: str = Field(
        default="https://huggingface.co", description="where local models that are not packaged come from"
    )
    embeddings_dimensions: int | None = Field(
        default=None, ge=1, description="expected vector width; a provider answering otherwise fails"
    )
    embeddings_batch_size: int = Field(default=64, ge=1)
    embeddings_preload: bool = Field(
        default=True,
        description="load the local model at server start, before taking requests, not on the first "
        "search or job (a cold load takes seconds)",
    )
    embed_summaries: bool = True

    summarizer: Literal["extractive", "openai", "off"] = Field(
        default="extractive", description="extractive | openai | off"
    )
    summarizer_model: str = "gpt-4o-mini"
    summarizer_prompt: str = Field(
        default="", description="custom prompt with {prev_summary} and {messages}; empty = built-in"
    )
    summarizer_max_tokens: int = Field(default=1024, ge=16, description="output tokens per LLM call")
    summarizer_context_tokens: int = Field(default=128_000, ge=2048, description="the model's context")
    summary_sentences: int = Field(default=6, ge=1, description="extractive summary length")
    summarizer_max_chars: int = Field(
        default=200_000,
        ge=1000,
        description="most characters of conversation one summary folds (a longer backlog takes several)",
    )

    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    openai_embeddings_base_url: str = Field(default="", description="empty = openai_base_url")
    openai_api_version: str = Field(default="", description="set for Azure OpenAI (api-key header)")
    openai_timeout_seconds: float = Field(default=60, gt=0)

    # --- Search (docs/search.md) ----------------------------------------------------------------------
    search_default_type: Literal["similarity", "mmr", "text", "hybrid"] = Field(
        default="similarity", description="search_type when a request names none (Zep's default)"
    )
    search_max_limit: int = Field(default=1000, ge=1, description="largest ?limit a search accepts")
    search_exact_max_rows: int = Field(
        default=20_000,
        ge=0,
        description="scopes with at most this many messages are ranked exactly; larger ones use the "
        "pgvector HNSW index when the database has one",
    )
    search_hnsw_ef_search: int = Field(
        default=200, ge=10, le=1000, description="HNSW candidates per query (pgvector hnsw.ef_search)"
    )
    search_candidates: int = Field(
        default=100, ge=1, description="depth of the text and vector lists that hybrid search fuses"
    )
    search_fusion: Literal["convex", "rrf"] = Field(
        default="convex", description="how hybrid fuses its lists: scaled scores (convex) or ranks (rrf)"
    )
    search_hybrid_alpha: float = Field(
        default=0.5, ge=0, le=1, description="weight of the vector list in convex fusion"
    )
    search_rrf_k: int = Field(default=60, ge=1, description="reciprocal rank fusion constant")
    search_neighbour_weight: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="hybrid: the turns before and after each fused candidate join the results with "
        "this share of its score (adjacent-turn expansion; 0 = off)",
    )
    search_context_weight: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="hybrid: a turn's vector score is the larger of its own cosine with the query and "
        "this share of its neighbours' best (0 = the turn alone)",
    )
    search_pending_max: int = Field(
        default=32,
        ge=0,
        description="messages in scope not embedded yet that a vector search embeds with the query "
        "(read-your-writes); beyond that they are ranked by text (header X-Chatmem-Ranked-By-Text)",
    )
    search_side_threads: int = Field(
        default=2,
        ge=0,
        description="threads per server process on which hybrid search looks up pending messages and "
        "ranks by keyword while the request's thread embeds the query and ranks by vector (0 = one "
        "after the other; a search that finds every thread busy does it itself)",
    )
    search_cache_mb: int = Field(
        default=512,
        ge=0,
        description="memory per server process for the vectors that exact search keeps loaded "
        "(least recently used sessions are dropped first; 0 reads them from the database per query)",
    )

    @field_validator("embeddings", "summarizer", "log_format", mode="before")
    @classmethod
    def _provider(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
