"""The office's fixtures (a fresh migrated database per test on SQLite and PostgreSQL,
``office_db``; the office on both databases in subprocesses, ``office_database``) live
in tests/office_fixtures.py and tests/network_fixtures.py, plugins of the root conftest,
so the tests of cloud_sync/ and the CLI reach them too."""
