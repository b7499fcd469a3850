"""Service settings, read once from the environment (prefix ``RTFIT_``) by pydantic-settings.

Everything an operator can change lives here so that `create_app(settings)` is the only way the
rest of the package learns about its configuration (tests build a `Settings` directly).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Configuration of one service process. Field `database_url` is `RTFIT_DATABASE_URL`, etc."""

    model_config = SettingsConfigDict(env_prefix="RTFIT_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file `rtfit.db` in `data_dir`.",
    )
    data_dir: Path = Field(default=Path(".rtfit"), description="Where the default SQLite file lives.")
    catalog: Path | None = Field(
        default=None, description="Catalog folder loaded at first start; default: the bundled catalog."
    )
    tokens_file: Path | None = Field(
        default=None, description="YAML file of hashed bearer tokens; unset = every protected route 401."
    )
    node_ttl_s: float = Field(default=60.0, gt=0, description="A node silent for longer is stale.")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0, description="Larger bodies get 413.")
    select_cache_size: int = Field(default=1024, ge=0, description="Cached selection answers per process.")
    solver_threads: int = Field(default=2, ge=1, description="Concurrent solver runs per process.")
    heartbeat_batch_ms: float = Field(
        default=5.0, ge=0, description="Liveness heartbeats arriving within this window share one commit."
    )
    heartbeat_lane: bool = Field(
        default=True,
        description="Answer liveness heartbeats in the request middleware, without FastAPI's routing "
        "(same checks and answers; false: every request goes through the FastAPI route).",
    )
    select_index_lag: int = Field(
        default=0, ge=0,
        description="While the next selection index is built after the inventory changed by at most this many "
        "revisions (or the catalog changed), answer from the previous one (and say so: its revisions are in the "
        "answer and the audit) instead of waiting; 0: a selection waits for the index of the revisions it read.",
    )
    select_warm: bool = Field(
        default=True,
        description="Warm each worker's catalog index (every framework family, every target of the live fleet) "
        "off the request path, at start and when new targets arrive; false: the first selections fill it.",
    )
    select_warm_pause: float = Field(
        default=4.0, ge=0,
        description="After each chunk of the warm-up, the index builder pauses this many times the CPU the chunk "
        "took (4: at most a fifth of a core), so heartbeats keep their share.",
    )
    select_lane: bool = Field(
        default=True,
        description="Answer POST /v1/select in the request middleware, without FastAPI's routing "
        "(same checks and bytes; false: every selection goes through the FastAPI route).",
    )
    metrics_public: bool = Field(default=True, description="False: /metrics needs a reader token.")
    strict_selection: bool = Field(
        default=False,
        description="Refuse runtimes whose verdict rests on facts the catalog lacks (as a request's "
        "`strict: true`); otherwise answers carry confidence: unverified.",
    )
    production: bool = Field(default=False, description="Refuse to start without a tokens file.")
    log_level: str = Field(default="info")

    def resolved_database_url(self) -> str:
        """The URL to connect to; creates the data dir for the default SQLite file."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'rtfit.db').resolve()}"
