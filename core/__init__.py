"""What the station and the head office share; imports nothing else of ours.

Errors (one root), reason codes, money, periods, time formats, keys, the config
loader, logging setup, the journal line and hash chain and the card-store formats
(``core.formats``), and pure decision code (``core.rules``).
"""
