"""Roles, and the role each endpoint declares.

- viewer: reads the pages, the statistics and the API's reads; sends and changes nothing.
- sender: what a viewer does, and sends, schedules and manages campaigns (their own).
- admin: everything, users and settings included, and every campaign.

Every endpoint declares the role it needs with `@requires` (or is `@public`); the access gate
refuses an endpoint that declares none, so a new route cannot be left open by forgetting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l

F = TypeVar("F", bound=Callable[..., Any])

VIEWER, SENDER, ADMIN = "viewer", "sender", "admin"
ROLES = (VIEWER, SENDER, ADMIN)  # each may do what the ones before it may
ROLE_NAMES = {
    VIEWER: _l("Viewer (reads pages and statistics, sends nothing)"),
    SENDER: _l("Sender (sends and manages their own campaigns)"),
    ADMIN: _l("Admin (everything, users and every campaign)"),
}
# The roles' short names, as pages and messages write them.
ROLE_LABELS = {VIEWER: _l("viewer"), SENDER: _l("sender"), ADMIN: _l("admin")}


def role_label(role: str | None) -> str:
    """The role's name in the reader's language (an unknown one as it is)."""
    return str(ROLE_LABELS.get(role or "", role or ""))


def role_allows(role: str | None, needed: str) -> bool:
    """Whether someone with `role` may use what needs `needed`."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def requires(role: str | None = None, **per_method: str) -> Callable[[F], F]:
    """Declare the role a view needs: `@requires(SENDER)` for every method, or per method,
    `@requires(GET=VIEWER, POST=SENDER)`. Works above or below the route decorator."""
    needs = {method.upper(): needed for method, needed in per_method.items()}
    if role is not None:
        needs["*"] = role
    unknown = set(needs.values()) - set(ROLES)
    if unknown or not needs:
        raise ValueError(f"requires() needs roles among {ROLES}, got {unknown or 'none'}")

    def declare(view: F) -> F:
        view.required_roles = needs  # type: ignore[attr-defined]
        return view

    return declare


def required_role(view: Callable[..., Any] | None, method: str) -> str | None:
    """The role `view` declares for `method` (HEAD as GET), or None if it declares none."""
    needs: dict[str, str] = getattr(view, "required_roles", {})
    method = "GET" if method == "HEAD" else method
    return needs.get(method, needs.get("*"))
