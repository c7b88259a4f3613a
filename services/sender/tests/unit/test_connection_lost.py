"""Which database errors the sender waits out when recording an outcome (#15, adapters/store.py)."""

import pytest
from mailbridge.sender.adapters.store import connection_lost
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError


class DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),  # asyncpg's refused connect, unwrapped
        (DBAPIError("connect", None, DriverError("the database system is shutting down", "57P03")), True),
        (DBAPIError("select", None, DriverError("terminating connection (admin)", "57P01")), True),
        (DBAPIError("select", None, DriverError("connection failure", "08006")), True),
        (OperationalError("select", None, DriverError("database is locked", None)), True),
        (DBAPIError("select", None, DriverError("lost", None), connection_invalidated=True), True),
        (IntegrityError("insert", None, DriverError("duplicate key", "23505")), False),
        (DBAPIError("select", None, DriverError("division by zero", "22012")), False),
        (ValueError("not the database"), False),
    ],
)
def test_only_an_unreachable_database_is_waited_out(error: BaseException, lost: bool) -> None:
    assert connection_lost(error) is lost
