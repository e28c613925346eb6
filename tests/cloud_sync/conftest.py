"""The broker, network, office and desk fixtures live in tests/network_fixtures.py (a
plugin of the root conftest), so tests/office reaches them too."""
