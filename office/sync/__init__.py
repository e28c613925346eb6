"""The office's endpoints of the wire: MQTT ingest, receipts, downlink, flash."""
