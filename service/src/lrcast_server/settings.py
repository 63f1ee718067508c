"""The server's configuration: one pydantic-settings class, read through a cached getter.

Every setting comes from an ``LRCAST_*`` environment variable (or the ``lrcast-server serve``
flags, which set them). Tests build their own :class:`Settings` and pass it to ``create_app``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
"""Relative to the working directory: ``lrcast-server serve`` run from a checkout keeps its
database in ``./data/lrcast.db`` (ignored by git)."""


class Settings(BaseSettings):
    """How one lrcast server process is configured."""

    model_config = SettingsConfigDict(env_prefix="LRCAST_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="Directory of the default SQLite database (created if missing).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database; default: SQLite file data_dir/lrcast.db.",
    )
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    admin_token: SecretStr | None = Field(
        None,
        description="If set, an admin token named 'env-admin' with this value is kept in the "
        "token table (for automation).",
    )
    insecure: bool = Field(
        False,
        description="Serve reads without a token even when bound beyond loopback. "
        "Writes always need a token.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body accepted (413 beyond)."
    )
    max_points: int = Field(
        10_000, ge=1, description="Most steps one range, evaluation or lease may return."
    )
    block_cache_size: int = Field(
        65_536, ge=16, description="Computed blocks kept in memory (LRU) per process."
    )
    block_cache_mb: int = Field(
        16, ge=1, description="Most memory (MB) the computed blocks kept may take per process."
    )
    answer_cache_mb: int = Field(
        32,
        ge=1,
        description="Most memory (MB) the runs' current blocks, packed for the per-step "
        "answer, may take per process.",
    )
    native_answers: bool = Field(
        True,
        description="Keep the runs' current blocks in the compiled answer table (faster with "
        "many runs) when it is built; false: in Python records.",
    )
    run_cache_size: int = Field(
        20_000, ge=16, description="Run states (timeline and horizon) kept in memory per process."
    )
    document_cache_size: int = Field(
        256, ge=4, description="Compiled schedule documents kept in memory (LRU) per process."
    )
    token_cache_seconds: float = Field(
        1.0, ge=0, description="How long a process trusts its copy of the token table."
    )
    seen_flush_seconds: float = Field(
        1.0,
        ge=0,
        description="Least interval between two writes of the runs' last steps seen (longer"
        " when the writes would otherwise take over 2% of the process's time).",
    )

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lrcast.db').resolve()}"

    @property
    def reads_need_token(self) -> bool:
        """Reads are open only on loopback, or when explicitly started insecure."""
        return not (self.insecure or is_loopback(self.host))


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
