"""The task inbox: "mina uppgifter" and "min grupps uppgifter", filters, counts, pagination."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from engine import inbox as queries
from webhooks.staff.common import now, protect, read_session

bp = Blueprint("staff_inbox", __name__)
protect(bp)

SCOPES = {"mina": "mine", "grupp": "group"}
WITHIN_CHOICES = (1, 3, 7, 14, 30)


def _int(value, default: int | None, low: int, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))


def read_filter(args) -> queries.InboxFilter:
    return queries.InboxFilter(
        scope=SCOPES.get(args.get("lista", "mina"), "mine"),
        process_key=args.get("rutin") or None,
        definition_id=args.get("version") or None,
        overdue=args.get("forsenade") == "1",
        due_within_days=_int(args.get("inom"), None, 0, 365) if args.get("inom") else None,
        sort="created" if args.get("sortering") == "skapad" else "due",
        page=_int(args.get("sida"), 1, 1, 10_000) or 1,
        per_page=_int(args.get("per_sida"), 25, 5, queries.MAX_PER_PAGE) or 25,
    )


@bp.route("/")
def home():
    return redirect(url_for("staff_inbox.inbox"))


@bp.route("/uppgifter")
def inbox():
    f = read_filter(request.args)
    moment = now()
    with read_session() as s:
        page, counts = queries.inbox_page(s, g.user, g.roles, f, moment)
        routines = queries.routine_choices(s)
    args = {k: v for k, v in request.args.items() if k != "sida" and v}

    def page_url(number: int) -> str:
        return url_for("staff_inbox.inbox", **args, sida=number)

    def scope_url(scope: str) -> str:
        return url_for(
            "staff_inbox.inbox", **{**{k: v for k, v in args.items() if k != "lista"}, "lista": scope}
        )

    return render_template(
        "staff/inbox.html",
        f=f,
        scope_param="grupp" if f.scope == "group" else "mina",
        page=page,
        counts=counts,
        cap=queries.COUNT_CAP,
        routines=routines,
        within_choices=WITHIN_CHOICES,
        now=moment,
        page_url=page_url,
        scope_url=scope_url,
        args=request.args,
    )
