"""Storage: tables, engine and sessions, statements through the driver, migrations."""
