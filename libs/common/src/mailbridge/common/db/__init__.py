"""The SQL database: engine and sessions, tables, migrations."""
