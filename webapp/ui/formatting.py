"""How numbers, times and values read on a page: the Jinja filters and globals."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from markupsafe import Markup

from ..engine import node_types
from ..engine.status import Trigger
from ..models import isoformat, utcnow
from . import output

APP_NAME = "AI Workflows"
NAVIGATION = (
    ("ui.dashboard", "Dashboard"),
    ("ui.workflows", "Workflows"),
    ("ui.templates", "Templates"),
    ("ui.history", "History"),
    ("ui.usage", "Usage"),
    ("ui.settings", "Settings"),
)
# What started a run, as a page says it ("started 2 min ago by a webhook").
TRIGGER_LABELS = {
    Trigger.API: "the API",
    Trigger.UI: "Run",
    Trigger.WEBHOOK: "a webhook",
    Trigger.SCHEDULE: "a schedule",
    Trigger.RETRY: "a retry",
    Trigger.WORKFLOW: "a workflow node",
    Trigger.TEST: "a test run",
}


def node_type_labels() -> dict[str, str]:
    """Each node type's name → its label, in the catalogue's order."""
    return {info.name: info.label for info in node_types.all_types()}


def node_type_label(kind: str) -> str:
    info = node_types.describe(kind)
    return info.label if info else kind


def element_text(text: str) -> Markup:
    """Text for inside an element such as a textarea: only ``&`` and ``<`` escaped (all that
    can end it or start markup there), so JSON's quotes stay one byte each, not five."""
    return Markup(str(text).replace("&", "&amp;").replace("<", "&lt;"))


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        dt=format_datetime,
        when=format_when,
        ago=format_ago,
        money=format_money,
        num=format_number,
        duration=format_duration,
        schedule_time=format_schedule_time,
        pretty_json=pretty_json,
        element_text=element_text,
        node_type=node_type_label,
        model_text=output.as_text_block,
        model_value=output.as_value_block,
    )
    app.jinja_env.globals.update(
        APP_NAME=APP_NAME,
        NAVIGATION=NAVIGATION,
        node_type_labels=node_type_labels,
        TRIGGER_LABELS=TRIGGER_LABELS,
        htmx_config=HTMX_CONFIG,
        active_section=active_section,
        now=utcnow,
        registration_enabled=lambda: current_app.config.get("REGISTRATION_ENABLED", True),
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


# htmx without anything that needs eval or inline styles (the CSP forbids both), with
# error answers swapped too (the server retargets them at the message area), and
# 422 answers (forms with their problems) swapped in place like a success.
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
        "historyRestoreAsHxRequest": False,
        "defaultSettleDelay": 0,
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "422", "swap": True},
            {"code": "[45]..", "swap": True, "error": True},
            {"code": "...", "swap": False},
        ],
    }
)


def active_section() -> str | None:
    """Which navigation entry the current page belongs to."""
    endpoint = request.endpoint or ""
    sections = {
        "ui.dashboard": "ui.dashboard",
        "ui.template": "ui.templates",
        "ui.templates": "ui.templates",
        "ui.history": "ui.history",
        "ui.execution": "ui.history",
        "ui.usage": "ui.usage",
        "ui.settings": "ui.settings",
        "ui.audit": "ui.settings",
    }
    if endpoint in sections:
        return sections[endpoint]
    if endpoint.startswith(("ui.workflow", "ui.editor", "ui.test")):
        return "ui.workflows"
    return None


def format_datetime(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_schedule_time(moment: datetime, zone: str = "UTC") -> str:
    """A due time as a person reads it, in the schedule's own zone: "Mon 30 Nov, 09:00"."""
    local = moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def format_ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = (utcnow() - moment).total_seconds()
    if seconds < 0:
        return "just now"
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600), (86400 * 45, "d", 86400)):
        if seconds < limit:
            return "just now" if unit == "s" and seconds < 5 else f"{int(seconds // size)} {unit} ago"
    return moment.strftime("%Y-%m-%d")


def format_when(moment: datetime | None) -> Markup:
    """A relative time with the exact one on hover and for machines."""
    if moment is None:
        return Markup("—")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        isoformat(moment), format_datetime(moment), format_ago(moment)
    )


def format_money(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:.4f}".rstrip("0")
    return f"${value:.8f}".rstrip("0")


def format_number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def format_duration(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds} s"


def pretty_json(value: Any) -> str:
    """Plain text (escaped when rendered): JSON for structures, strings as they are."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
