"""``forecourt demo``: the whole system on one machine, in one command.

A head office (its store, its ingest and its web console), a station (its daemon, two
simulated DART pumps on a pseudo-terminal, four card readers played by real protocol
peers), a private mosquitto between them (or a flash drive without one), sales flowing
through all of it, and a closing summary that proves every sale reached the office
exactly once. Everything runs as the real ``forecourt`` commands in child processes;
this package only starts them, plays the customers and the hardware, watches, and
stops everything again (docs/demo.md).

It sits above the station and the office (it may use the station's control client and
read its database read-only) and never imports the office: the office is driven through
its commands, as an operator would.
"""
