"""One log entry for an unexpected error, without the request's values.

A database error's chain carries the driver's message, which can quote a parameter (asyncpg:
"invalid input for query argument $1: 'the value'") even with `hide_parameters`; for those the
entry holds the statement, the driver's error class and SQLSTATE and the frames, never a message.
"""

import logging
import traceback

from sqlalchemy.exc import DBAPIError, StatementError

logger = logging.getLogger("mailbridge.config_api.problems")


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def log_unexpected(error: BaseException) -> None:
    """Log `error` once: in full, unless a database error is in its chain."""
    statement_error = next((e for e in _chain(error) if isinstance(e, StatementError)), None)
    if statement_error is None:
        logger.error("unhandled error", exc_info=error)
        return
    original = statement_error.orig if isinstance(statement_error, DBAPIError) else None
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    frames = "".join(
        f"{type(e).__name__}:\n{''.join(traceback.format_tb(e.__traceback__))}" for e in _chain(error)
    )
    logger.error(
        "unhandled database error %s (SQLSTATE %s) in: %s (messages left out: they can quote values)\n%s",
        type(original or statement_error).__name__, sqlstate, statement_error.statement, frames,
    )  # fmt: skip
