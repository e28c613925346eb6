"""Tests of the head office (office/), each on SQLite and on PostgreSQL."""
