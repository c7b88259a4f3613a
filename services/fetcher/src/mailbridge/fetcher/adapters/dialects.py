"""Upserts (INSERT … ON CONFLICT) are spelled per dialect: build one once for each we run on."""

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

DialectInsert = Callable[..., Any]  # postgresql.insert or sqlite.insert: the same shape of API


def by_dialect(build: Callable[[DialectInsert], Insert]) -> Mapping[str, Insert]:
    """`build` applied to each dialect's insert, keyed by the dialect's name."""
    return {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}
