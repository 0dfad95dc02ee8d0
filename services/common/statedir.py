"""Where a stack keeps its files: the state directory layout and the names derived from it."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path


def state_key(state_dir: Path) -> str:
    """A short stable key for a state directory: it names the stack's Ray namespace and temp dir."""
    return hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:10]


def ray_temp_dir(state_dir: Path) -> Path:
    """Ray's temp dir for a stack: short (Unix socket paths are limited to ~107 bytes) and findable by `cep up`."""
    return Path(tempfile.gettempdir()) / f"cep-ray-{state_key(state_dir)}"


def ray_namespace(state_dir: Path) -> str:
    """The Ray namespace of a stack, so two stacks on one Ray cluster never see each other's actors."""
    return f"cep-{state_key(state_dir)}"


def database_file(state_dir: Path) -> Path:
    """The SQLite database of a stack."""
    return Path(state_dir) / "cep.db"


def secrets_key_file(state_dir: Path) -> Path:
    """The key file sealing a stack's channel secrets (CEP_SECRETS_KEY_FILE), made by `cep up` on the first start."""
    return Path(state_dir) / "secrets-key"
