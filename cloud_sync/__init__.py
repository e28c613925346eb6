"""MQTT uplink/downlink, signed envelopes, flash-drive bundles and the head office.

Arrives with the sync issue; the package exists now so the layout is complete.
"""
