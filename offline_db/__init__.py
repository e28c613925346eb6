"""The station's SQLite store: schema and migrations, the card store, open
authorizations, the sale journal and outbox, sync state and the audit log.

One writer owns the writable database (:class:`offline_db.lock.WriterLock`);
read-only commands open it with ``mode=ro``.
"""
