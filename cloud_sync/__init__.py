"""The wire between station and head office: envelopes, topic names, message schemas
(``wire``), the MQTT client, flash-drive bundles, digital-card tokens, and the
station's endpoints (uplink, downlink apply, flash). The office's endpoints are in
``office.sync``."""
