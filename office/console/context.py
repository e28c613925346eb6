"""What every console page's template gets: the menu this user may see."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from office.access.rights import has


def console(request: HttpRequest) -> dict[str, Any]:
    from office.console.views import MENU

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"menu": []}
    current = request.path
    menu = []
    for url, right, label in MENU:
        if has(user, right):
            href = reverse(url)
            menu.append({"href": href, "label": label, "active": current.startswith(href)})
    return {"menu": menu}
