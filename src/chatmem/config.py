"""Settings: every knob is a ``CHATMEM_*`` environment variable (or a line in ``.env``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
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
    purge_every_minutes: float = Field(
        default=60, ge=0, description="how often the server hard-deletes soft-deleted data; 0 disables"
    )
    db_pool_size: int = Field(default=8, ge=1, description="PostgreSQL connections per server process")
    log_level: str = "info"

    @field_validator("log_level")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'chatmem.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
