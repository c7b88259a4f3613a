"""A database error, logged with its traceback, shows the statement but none of its values."""

import logging

import pytest
from mailbridge.common.db.engine import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

SECRET = "hunter2-секрет-mail-body"


async def test_a_logged_database_error_holds_no_parameter_value(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT)"))
            statement = text("INSERT INTO secrets (id, value) VALUES (:id, :value)")
            twice = [{"id": 1, "value": SECRET}, {"id": 1, "value": SECRET}]
            with pytest.raises(DBAPIError) as caught:
                await connection.execute(statement, twice)
        logging.getLogger("test").error("database error", exc_info=caught.value)
    finally:
        await engine.dispose()
    assert "INSERT INTO secrets" in caplog.text, "the statement is still logged"
    assert SECRET not in caplog.text
    assert "hidden due to hide_parameters" in caplog.text
