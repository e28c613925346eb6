"""Access: users, groups and rights (Django's auth) and the one audit trail of changes."""
