"""The MQTT topic tree, in one place (docs/mqtt.md).

Under ``[mqtt] prefix`` (default ``forecourt/v1``):

- ``{prefix}/station/{id}/sales``, ``status``, ``sync``: from the station;
- ``{prefix}/station/{id}/receipt``, ``cards``: from the office to one station;
- ``{prefix}/network/cards``: from the office to every station.
"""

from __future__ import annotations

#: Leaves a station publishes on (the office subscribes to them for every station).
UPLINK = ("sales", "status", "sync")
#: Leaves the office publishes on for one station.
DOWNLINK = ("receipt", "cards")


def station(prefix: str, station_id: str, leaf: str) -> str:
    """The topic of one station's ``leaf`` (one of :data:`UPLINK` or :data:`DOWNLINK`)."""
    return f"{prefix}/station/{station_id}/{leaf}"


def every_station(prefix: str, leaf: str) -> str:
    """The subscription filter for ``leaf`` of every station."""
    return f"{prefix}/station/+/{leaf}"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: the broker hands each message that matches
    ``topic_filter`` to one member of ``group`` (the office's workers)."""
    return f"$share/{group}/{topic_filter}"


def network_cards(prefix: str) -> str:
    """Card-store changes for every station."""
    return f"{prefix}/network/cards"


def parse_station(topic: str) -> tuple[str, str] | None:
    """``(station_id, leaf)`` of a station topic, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[-3] != "station":
        return None
    return parts[-2], parts[-1]
