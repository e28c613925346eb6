"""The station: configuration, authorization engine, sale lifecycle and daemon.

`edge.errors`, `edge.config` and `edge.logs` are leaf modules (they import nothing
else of ours) so that `offline_db/` and `drivers/` may use them without depending on
the rest of `edge/`.
"""
