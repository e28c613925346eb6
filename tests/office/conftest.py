"""The office's fixtures (a fresh migrated database per test on SQLite and PostgreSQL,
``office_db``; the office on both databases in subprocesses, ``office_database``) live
in tests/office_fixtures.py and tests/network_fixtures.py, plugins of the root conftest,
so the tests of cloud_sync/ and the CLI reach them too."""

from collections.abc import Iterator

import pytest
from django.test import override_settings

from core.config import Config
from office.console import runtime
from tests.office_fixtures import OfficeDb


@pytest.fixture
def console_db(office_db: OfficeDb) -> Iterator[OfficeDb]:
    """``office_db``, and the console's views acting on it (as ``office web`` serves)."""
    runtime.set_config(Config(office=office_db.config))
    try:
        yield office_db
    finally:
        runtime.set_config(None)


@pytest.fixture
def fast_hashing() -> Iterator[None]:
    """A cheap password hasher for tests that log in many users (never in production)."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield
