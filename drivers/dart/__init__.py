"""Wayne DART pump protocol: CRC, framing, link, application and pump model.

Layers, each testable alone: :mod:`drivers.dart.crc` and :mod:`drivers.dart.framer`
(the link-layer bytes), :mod:`drivers.dart.link` (master polling, TX#, ACK/NAK,
retries), :mod:`drivers.dart.application` (CD/DC transactions as typed messages) and
:mod:`drivers.dart.pump` (the state of one fuelling point). Everything known about
the protocol is in docs/pump-line.md.
"""
