"""The failed-login limit: too many wrong passwords lock a username + address pair.

``[office] login_failure_limit`` wrong passwords for one username from one address
within ``login_failure_window`` lock that pair for ``login_lockout``: its logins are
refused (without checking the password) until the lock ends. The same username from
another address, and other usernames from this one, are not affected, so one person
typing wrongly cannot lock a colleague out, and an attacker cannot lock everyone out
from one place. A lock is logged (``console.login_locked``) and written to the audit
trail; every failure is logged (``console.login_failed``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.db import transaction

from office.access import audit
from office.access.models import LoginFailure, LoginLock
from office.settings import ConsoleOptions

log = structlog.get_logger(__name__)


def locked_until(username: str, address: str, now: datetime) -> datetime | None:
    """When the pair's lock ends, or None if it may try to log in."""
    lock = LoginLock.objects.filter(username=username, address=address,
                                    until__gt=now).first()
    return None if lock is None else lock.until


def failed(username: str, address: str, now: datetime, options: ConsoleOptions) -> bool:
    """Count one wrong password; True if it locked the pair."""
    window_start = now - timedelta(seconds=options.login_failure_window_s)
    with transaction.atomic():
        LoginFailure.objects.create(username=username, address=address, at=now)
        LoginFailure.objects.filter(at__lt=window_start).delete()  # forget old ones
        count = LoginFailure.objects.filter(username=username, address=address,
                                            at__gte=window_start).count()
        log.warning("console.login_failed", username=username, address=address,
                    failures=count)
        if count < options.login_failure_limit:
            return False
        until = now + timedelta(seconds=options.login_lockout_s)
        LoginLock.objects.update_or_create(username=username, address=address,
                                           defaults={"until": until})
        LoginFailure.objects.filter(username=username, address=address).delete()
        audit.record(actor=username, via="console", action="login.lockout",
                     object_kind="login", object_id=f"{username}@{address}",
                     old=None, new={"locked_until": until.isoformat(), "failures": count},
                     detail=f"{count} wrong passwords within "
                            f"{options.login_failure_window_s} s")
    log.warning("console.login_locked", username=username, address=address,
                until=until.isoformat(), failures=count)
    return True


def succeeded(username: str, address: str) -> None:
    """A good login forgets the pair's failures."""
    LoginFailure.objects.filter(username=username, address=address).delete()
    LoginLock.objects.filter(username=username, address=address).delete()
