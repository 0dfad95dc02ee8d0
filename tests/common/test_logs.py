"""Service logging: SQL statements and their parameters (token hashes, payloads) never reach the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy

from services.common.logs import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("sqlalchemy.engine", "aiosqlite")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_sql_statements_and_parameters_are_not_logged(
    level: str, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("gateway", level)
    engine = sqlalchemy.create_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT :secret"), {"secret": "token-hash-4711"})
    logging.getLogger("services.gateway").warning("still logged")
    err = capsys.readouterr().err
    assert "token-hash-4711" not in err and "SELECT" not in err
    assert "still logged" in err
