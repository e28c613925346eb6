"""The station: daemon, sale lifecycle, pump-line and reader wiring, the station's
commands (``edge.cli``). Shared basics (errors, config, money, keys) live in ``core``."""
