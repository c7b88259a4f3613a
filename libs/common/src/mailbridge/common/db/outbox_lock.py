"""G6 in the database: triggers that refuse to change or delete a locked (sealed) outbox row.

A row is locked when the sender sealed it: it was sent while "lock after sending" was on
(`outbox_messages.locked`, set in the sealing transaction; config-api answers 409 for the same
rows). On a locked row the database refuses:
- DELETE (and, on PostgreSQL, TRUNCATE while any locked row exists);
- every UPDATE, with one exception: the sender marking the mail appended to the Sent folder
  (`appended_to_sent_folder` false → true, with `updated_at`), which it does after the seal,
  as long as the sealed columns stay as they are; `raw` may not even be named in the SET.
The sender's own writes before the seal (the outcome, the bytes, then the seal itself) touch a
row that is not yet locked. A retention rule that must remove sealed mail cannot: that is the
point. Tests (and an attacker with DDL rights) drop the triggers first (`DROP`); the verifier
still catches what is done then (outbox_chain.py, outbox_checkpoints.py).

Migration 0014 runs `CREATE`; a change here is a new migration that drops and recreates them.
On SQLite a later migration in batch mode copies the table and so loses its triggers: the
migration environment restores them after every run (`restore_sqlite_triggers`).
"""

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

_MESSAGE = "G6: outbox message is sent and locked"
# Unchanged by the one UPDATE a locked row takes (besides raw, refused by name)
_SEALED = (
    "id", "account_id", "status", "locked", "chain_seq", "chain_hash", "seal_key_id",
    "message_id_header", "sent_at",
)  # fmt: skip


def _append_only(same: str, request_same: str) -> str:
    unchanged = " AND ".join(same.format(column=column) for column in _SEALED)
    flipped = "NOT OLD.appended_to_sent_folder AND NEW.appended_to_sent_folder"
    return f"({flipped} AND {unchanged} AND {request_same})"


_PG_SAME = _append_only(
    "NEW.{column} IS NOT DISTINCT FROM OLD.{column}", "NEW.request::text = OLD.request::text"
)
_SQLITE_SAME = _append_only("NEW.{column} IS OLD.{column}", "NEW.request IS OLD.request")

CREATE = {
    "postgresql": (
        f"""CREATE FUNCTION mailbridge_outbox_locked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM outbox_messages WHERE locked) THEN
      RAISE EXCEPTION '{_MESSAGE}: TRUNCATE refused' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '{_MESSAGE}: % of % refused', TG_OP, OLD.id USING ERRCODE = 'restrict_violation';
END $$""",  # noqa: S608 - fixed text, no input
        "CREATE TRIGGER outbox_locked_no_delete BEFORE DELETE ON outbox_messages "
        "FOR EACH ROW WHEN (OLD.locked) EXECUTE FUNCTION mailbridge_outbox_locked()",
        "CREATE TRIGGER outbox_locked_no_raw BEFORE UPDATE OF raw ON outbox_messages "
        "FOR EACH ROW WHEN (OLD.locked) EXECUTE FUNCTION mailbridge_outbox_locked()",
        "CREATE TRIGGER outbox_locked_no_update BEFORE UPDATE ON outbox_messages "
        f"FOR EACH ROW WHEN (OLD.locked AND NOT {_PG_SAME}) EXECUTE FUNCTION mailbridge_outbox_locked()",
        "CREATE TRIGGER outbox_locked_no_truncate BEFORE TRUNCATE ON outbox_messages "
        "FOR EACH STATEMENT EXECUTE FUNCTION mailbridge_outbox_locked()",
    ),
    "sqlite": (
        "CREATE TRIGGER IF NOT EXISTS outbox_locked_no_delete BEFORE DELETE ON outbox_messages "
        f"FOR EACH ROW WHEN OLD.locked BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE refused'); END",
        "CREATE TRIGGER IF NOT EXISTS outbox_locked_no_raw BEFORE UPDATE OF raw ON outbox_messages "
        f"FOR EACH ROW WHEN OLD.locked BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: UPDATE refused'); END",
        "CREATE TRIGGER IF NOT EXISTS outbox_locked_no_update BEFORE UPDATE ON outbox_messages "
        f"FOR EACH ROW WHEN OLD.locked AND NOT {_SQLITE_SAME} "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: UPDATE refused'); END",
    ),
}
_TRIGGERS = ("outbox_locked_no_delete", "outbox_locked_no_raw", "outbox_locked_no_update")
DROP = {
    "postgresql": (
        *(
            f"DROP TRIGGER IF EXISTS {name} ON outbox_messages"
            for name in (*_TRIGGERS, "outbox_locked_no_truncate")
        ),
        "DROP FUNCTION IF EXISTS mailbridge_outbox_locked()",
    ),
    "sqlite": tuple(f"DROP TRIGGER IF EXISTS {name}" for name in _TRIGGERS),
}


async def drop_lock_triggers(connection: AsyncConnection) -> None:
    """Take the G6 triggers away (tests' clean-up and tamper tests; what an attacker would do)."""
    for statement in DROP[connection.dialect.name]:
        await connection.execute(text(statement))


async def create_lock_triggers(connection: AsyncConnection) -> None:
    for statement in CREATE[connection.dialect.name]:
        await connection.execute(text(statement))


def restore_sqlite_triggers(connection: Connection) -> None:
    """Create the SQLite triggers that are missing, once the schema is at 0014 or later."""
    schema = inspect(connection)
    if schema.has_table("outbox_messages") and any(
        column["name"] == "seal_key_id" for column in schema.get_columns("outbox_messages")
    ):
        for statement in CREATE["sqlite"]:
            connection.execute(text(statement))
