"""The run's summary line names the databases the tests used (#15, tests on a fresh machine)."""

from mailbridge.testkit.fixtures import DatabasesUsed, summary_line


def test_no_database_test_no_line() -> None:
    assert summary_line(DatabasesUsed()) is None


def test_both_backends_with_the_servers_version_and_source() -> None:
    used = DatabasesUsed(
        sqlite=True, postgres_source="private cluster at 127.0.0.1:41234", postgres_version="15"
    )
    assert summary_line(used) == "databases: SQLite + PostgreSQL 15 (private cluster at 127.0.0.1:41234)"


def test_a_configured_server_of_unknown_version_is_named_by_its_variable() -> None:
    used = DatabasesUsed(postgres_source="MAILBRIDGE_TEST_DATABASE_URL")
    assert summary_line(used) == "databases: PostgreSQL (MAILBRIDGE_TEST_DATABASE_URL)"


def test_a_skipped_postgresql_half_says_why() -> None:
    used = DatabasesUsed(sqlite=True, postgres_unavailable="PostgreSQL not installed")
    assert summary_line(used) == "databases: SQLite; PostgreSQL skipped: PostgreSQL not installed"


def test_workers_records_merge_into_the_controllers() -> None:
    controller = DatabasesUsed()
    controller.merge(DatabasesUsed(sqlite=True).as_dict())
    controller.merge(
        DatabasesUsed(postgres_source="MAILBRIDGE_TEST_DATABASE_URL", postgres_version="15").as_dict()
    )
    assert controller == DatabasesUsed(
        sqlite=True, postgres_source="MAILBRIDGE_TEST_DATABASE_URL", postgres_version="15"
    )
