"""Settings every service shares; each service extends this with its own class, built once in `__main__`."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Environment variables with the `CEP_` prefix: the same names in a process, compose and Kubernetes."""

    model_config = SettingsConfigDict(env_prefix="CEP_", extra="ignore")

    state_dir: Path = Path(".cep")
    nats_url: str = "nats://127.0.0.1:4222"
    bind_host: str = "127.0.0.1"
    log_level: str = "INFO"
