"""Scripted runs of every catalogue template against the loopback model server.

Each scenario runs its template's ``example_inputs`` (what it runs with as it is), or
inputs of its own where a run needs them (a page that fails, an unknown domain), and
gives, per run, the replies to script: a list of
(substring of the node's prompt, reply), first match wins (``ModelServer.reply_when``).
Conditional templates have one run per branch, keyed "true" and "false", and ``expect``
holds outputs each run must produce; the others have one "helpful" run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from webapp.services.templates import CATALOGUE_DIR

ORIGIN = re.compile(r"https?://[^/?#\s\"']+")


@dataclass
class Scenario:
    runs: dict[str, list[tuple[str, str]]]
    expect: dict[str, dict] = field(default_factory=dict)
    inputs: dict | None = None  # None: the template's example_inputs


def j(**fields) -> str:
    return json.dumps(fields)


LONG_EMAIL = "Subject: faster month-end close\n\nHi Dana,\n\n" + "We help finance teams close faster. " * 40
SHORT_EMAIL = (
    "Subject: month-end close at Acme\n\nHi Dana,\n\nSaw Acme is hiring two AP clerks. Teams like "
    "Northwind cut close from 9 days to 4 with us. Worth a 15-minute call next week?\n\nSam"
)

BLOCKER = {"severity": "blocker", "file": "app.py", "line": 1, "issue": "Breaks callers", "suggestion": "Keep x"}
NIT = {"severity": "nit", "file": "app.py", "line": 1, "issue": "Unclear name", "suggestion": "Rename x"}

# The addresses a scenario calls; the tests point each at the loopback API server (``on_loopback``).
PAGES, CRM, HOOKS = "https://tea.example", "https://crm.example", "https://hooks.example"
SEARCH, SHOP = "https://search.example", "https://shop.example"

SCENARIOS: dict[str, Scenario] = {
    "research-assistant-agent": Scenario(
        inputs={
            "question": "How much caffeine is in green tea? "
            '[[call=search {"q": "green tea caffeine"}]] [[call=read_page {"url": "https://tea.example/page/green-tea"}]]',
            "search_url": f"{SEARCH}/search",
        },
        runs={"helpful": [("Research this question", "About 30 mg a cup (https://tea.example/page/green-tea).")]},
        expect={"helpful": {"tools_used": ["search", "read_page"], "tool_calls": 2}},
    ),
    "order-support-agent": Scenario(
        inputs={
            "message": 'Where is my order A1001? It was due yesterday. [[call=lookup_order {"order_id": "A1001"}]]',
            "orders_url": f"{SHOP}/orders",
        },
        runs={
            "helpful": [
                (
                    "Customer message",
                    j(category="shipping", priority="high", order_status="shipped", reply="A1001 arrives Dec 9."),
                )
            ]
        },
        expect={
            "helpful": {
                "category": "shipping",
                "priority": "high",
                "order_status": "shipped",
                "reply": "A1001 arrives Dec 9.",
                "orders_looked_up": 1,
            }
        },
    ),
    "web-pages-digest": Scenario(
        inputs={
            "urls": [f"{PAGES}/page/green-tea", f"{PAGES}/page/oolong", f"{PAGES}/status/404"],
            "focus": "caffeine",
        },
        runs={"helpful": [("Summarise this page", "- Facts about tea"), ("Write a digest", "Tea digest [1] [2]")]},
        expect={"helpful": {"digest": "Tea digest [1] [2]", "unreadable": [2]}},
    ),
    "lead-enrichment": Scenario(
        inputs={
            "leads": [
                {"name": "Dana Reyes", "company": "Acme Freight", "domain": "acme.com"},
                {"name": "Lee Park", "company": "Ghost Co", "domain": "ghost.invalid"},
            ],
            "lookup_url": f"{CRM}/company",
            "offer": "Route planning software for mid-size logistics firms.",
        },
        runs={
            "helpful": [
                ("Lead: Dana", j(fit="high", reason="Logistics, 120 people", opener="Saw Acme's growth.")),
                ("Lead: Lee", j(fit="low", reason="No data", opener="Hello.")),
            ]
        },
        expect={"helpful": {"high_fit": ["Dana Reyes"]}},
    ),
    "summary-to-webhook": Scenario(
        inputs={
            "text": "<p>Deploy 42 failed at 10:02 and was rolled back at 10:09.</p>",
            "audience": "on-call",
            "webhook_url": f"{HOOKS}/echo/hook",
        },
        runs={"helpful": [("Write an update", "- Deploy 42 rolled back; no user impact.")]},
        expect={"helpful": {"webhook_status": 200}},
    ),
    "product-launch-copy": Scenario(
        runs={
            "true": [
                ("Review this launch copy", j(tone_score=9, unsupported_claims=[], suggestions=["Shorter CTA"])),
                ("Write launch copy", "# Tea at exactly the right heat\nBrewMate holds 40-100 °C."),
                ("Write launch posts", "## LinkedIn\nMeet BrewMate.\n## X\nBrewMate.\n## Instagram\nHi."),
            ],
            "false": [
                (
                    "Review this launch copy",
                    j(tone_score=4, unsupported_claims=["Best kettle in the world"], suggestions=["Drop superlatives"]),
                ),
                ("Write launch copy", "# The best kettle in the world"),
                ("Revise the launch copy", "# Tea at exactly the right heat"),
                ("Write launch posts", "## LinkedIn\nMeet BrewMate."),
            ],
        },
        expect={
            "true": {"rewritten": False, "tone_score": 9.0},
            "false": {
                "rewritten": True,
                "copy": "# Tea at exactly the right heat",
                "unsupported_claims": ["Best kettle in the world"],
            },
        },
    ),
    "seo-meta-tags": Scenario(
        runs={
            "true": [
                (
                    "Write search metadata",
                    j(
                        title="Trail running shoes: the complete guide to every shoe for wet and muddy ground in 2025",
                        meta_description="x" * 200,
                        slug="Trail Running Shoes",
                        secondary_keywords=["mud shoes"],
                    ),
                ),
                (
                    "Shorten this search snippet",
                    j(
                        title="Trail running shoes for wet ground",
                        meta_description="Pick trail running shoes that grip.",
                    ),
                ),
            ],
            "false": [
                (
                    "Write search metadata",
                    j(
                        title="Trail running shoes for wet, muddy ground",
                        meta_description="How to choose trail running shoes that grip.",
                        slug="trail-running-shoes-wet",
                        secondary_keywords=["mud"],
                        og_title="Trail shoes",
                        og_description="Grip in the mud",
                    ),
                )
            ],
        },
        expect={
            "true": {"shortened": True, "title": "Trail running shoes for wet ground", "slug": "trail-running-shoes"},
            "false": {
                "shortened": False,
                "title": "Trail running shoes for wet, muddy ground",
                "slug": "trail-running-shoes-wet",
            },
        },
    ),
    "support-ticket-triage": Scenario(
        runs={
            "true": [
                (
                    "Triage this support ticket",
                    j(category="outage", urgency=5, sentiment="angry", summary="The site is down.", needs_human=True),
                ),
                ("Write an internal escalation note", "**Problem** - site down"),
                ("Write a short acknowledgement", "Hi Ana, a specialist is on it."),
            ],
            "false": [
                (
                    "Triage this support ticket",
                    j(category="how_to", urgency=2, sentiment="calm", summary="Asks how to export.", needs_human=False),
                ),
                ("Draft a reply", "Hi Ana, go to Settings > Export."),
            ],
        },
        expect={
            "true": {"route": "escalated", "urgency": 5, "category": "outage"},
            "false": {"route": "answered", "urgency": 2, "customer_reply": "Hi Ana, go to Settings > Export."},
        },
    ),
    "review-response-router": Scenario(
        runs={
            "true": [
                (
                    "Analyse this review",
                    j(
                        sentiment="negative",
                        severity="high",
                        topics=["damage", "support"],
                        main_point="Arrived broken.",
                        safety_or_legal=False,
                    ),
                ),
                ("contact support privately", "We're sorry your lamp arrived broken."),
                ("Write an internal alert", "Review alert: lamp arrived broken"),
            ],
            "false": [
                (
                    "Analyse this review",
                    j(
                        sentiment="positive",
                        severity="low",
                        topics=["design"],
                        main_point="Loves the design.",
                        safety_or_legal=False,
                    ),
                ),
                ("Thank them for a specific detail", "Thank you - glad the design works for you."),
            ],
        },
        expect={"true": {"route": "recovery", "severity": "high"}, "false": {"route": "thank_you"}},
    ),
    "blog-article-writer": Scenario(
        runs={
            "helpful": [
                (
                    "Plan a blog article",
                    j(
                        title="Your first sourdough",
                        hook="It is easier than you think.",
                        sections=[
                            {"heading": "Make a starter", "brief": "Feeding"},
                            {"heading": "Mix and proof", "brief": "Timing"},
                            {"heading": "Bake", "brief": "Heat"},
                        ],
                    ),
                ),
                ("Write section 1 of 3", "## Make a starter\nFlour and water."),
                ("Write section 2 of 3", "## Mix and proof\nPatience."),
                ("Write section 3 of 3", "## Bake\nHot oven."),
                ("Write the conclusion", "## Key takeaways\n- Feed it."),
            ]
        },
        expect={"helpful": {"title": "Your first sourdough", "outline": ["Make a starter", "Mix and proof", "Bake"]}},
    ),
    "translation-with-review": Scenario(
        runs={
            "true": [
                ("Translate the text below", "Ihre Bestellung wurde versandt."),
                (
                    "Review this translation",
                    j(score=9, accuracy_issues=[], fluency_issues=[], detected_source_language="English"),
                ),
            ],
            "false": [
                ("Translate the text below", "Ihr Auftrag wurde versandt."),
                (
                    "Review this translation",
                    j(
                        score=5,
                        accuracy_issues=["'Auftrag' violates the glossary"],
                        fluency_issues=[],
                        detected_source_language="English",
                    ),
                ),
                ("Revise this translation", "Ihre Bestellung wurde versandt."),
            ],
        },
        expect={
            "true": {"revised": False, "translation": "Ihre Bestellung wurde versandt."},
            "false": {"revised": True, "translation": "Ihre Bestellung wurde versandt.", "quality_score": 5.0},
        },
    ),
    "meeting-action-items": Scenario(
        runs={
            "helpful": [
                (
                    "Extract the outcomes of this meeting",
                    j(
                        summary="Vendor chosen.",
                        decisions=["Vendor B"],
                        open_questions=[],
                        action_items=[
                            {"task": "Send the deck", "owner": "Ana", "due": "2025-03-07", "priority": "high"}
                        ],
                    ),
                )
            ]
        },
        expect={"helpful": {"action_item_count": 1, "decisions": ["Vendor B"]}},
    ),
    "invoice-extractor": Scenario(
        runs={
            "true": [
                (
                    "Extract the data of this invoice",
                    j(
                        vendor_name="ACME Ltd",
                        invoice_number="42",
                        invoice_date="2025-01-31",
                        due_date=None,
                        currency="EUR",
                        subtotal=100,
                        tax=21,
                        total=121,
                        line_items=[{"description": "Widgets", "quantity": 2, "unit_price": 50, "amount": 100}],
                    ),
                )
            ],
            "false": [
                (
                    "Extract the data of this invoice",
                    j(
                        vendor_name="ACME Ltd",
                        invoice_number="42",
                        currency="EUR",
                        subtotal=100,
                        tax=21,
                        total=121,
                        line_items=[{"description": "Widgets", "amount": 90}],
                    ),
                )
            ],
        },
        expect={"true": {"status": "ready"}, "false": {"status": "needs_review"}},
    ),
    "code-review-summary": Scenario(
        runs={
            "true": [
                ("Review this change", j(summary="Changes x.", risk="high", tests=["test x"], findings=[BLOCKER])),
                ("Write the pull request review comment", "Must fix before merge: app.py:1"),
            ],
            "false": [("Review this change", j(summary="Changes x.", risk="low", tests=[], findings=[NIT]))],
        },
        expect={
            "true": {"verdict": "request_changes", "files_changed": 1},
            "false": {"verdict": "approve", "risk": "low"},
        },
    ),
    "bug-report-to-ticket": Scenario(
        runs={
            "true": [
                (
                    "Turn this bug report",
                    j(
                        title="Crash on photo upload",
                        summary="Crash.",
                        steps=[],
                        expected="Upload works",
                        actual="Crash",
                        severity="high",
                        component="mobile",
                        missing=["App version", "Steps"],
                    ),
                ),
                ("Write a follow-up message", "Thanks! 1. Which app version?"),
            ],
            "false": [
                (
                    "Turn this bug report",
                    j(
                        title="Crash on photo upload",
                        summary="Crash.",
                        steps=["Open app", "Upload photo"],
                        expected="Upload works",
                        actual="Crash",
                        severity="high",
                        component="mobile",
                        missing=[],
                    ),
                )
            ],
        },
        expect={"true": {"follow_up": "Thanks! 1. Which app version?"}},
    ),
    "cold-outreach-email": Scenario(
        runs={
            "true": [
                (
                    "Find the best angle",
                    j(pain_point="Slow close", hook="Saw you are hiring AP clerks.", ask="15 minutes?"),
                ),
                ("Write a first outreach email", LONG_EMAIL),
                ("This outreach email has", SHORT_EMAIL),
            ],
            "false": [
                (
                    "Find the best angle",
                    j(pain_point="Slow close", hook="Saw you are hiring AP clerks.", ask="15 minutes?"),
                ),
                ("Write a first outreach email", SHORT_EMAIL),
            ],
        },
        expect={
            "true": {"tightened": True, "email": SHORT_EMAIL},
            "false": {"tightened": False, "email": SHORT_EMAIL, "angle": "Slow close"},
        },
    ),
    "sales-call-qualification": Scenario(
        runs={
            "true": [
                (
                    "Qualify this discovery call",
                    j(
                        summary="Ready.",
                        budget="approved",
                        authority="signs off",
                        need="clear",
                        timeline="Q3",
                        score=85,
                        objections=["price"],
                        next_step="Demo Tuesday",
                    ),
                ),
                ("Write the follow-up email to", "Subject: demo Tuesday"),
            ],
            "false": [
                ("Qualify this discovery call", j(summary="Early.", score=30, objections=[], next_step="none agreed")),
                ("Write a low-pressure follow-up email", "Subject: an idea for later"),
            ],
        },
        expect={
            "true": {"qualified": True, "score": 85, "follow_up_email": "Subject: demo Tuesday"},
            "false": {"qualified": False, "follow_up_email": "Subject: an idea for later"},
        },
    ),
    "research-brief": Scenario(
        runs={
            "helpful": [
                (
                    "Break this research question",
                    j(sub_questions=["What do trials show?", "What does it cost?", "What are the risks?"]),
                ),
                ("Research sub-question 1 of 3", "**Answer** Productivity held."),
                ("Research sub-question 2 of 3", "**Answer** Costs vary."),
                ("Research sub-question 3 of 3", "**Answer** Coverage gaps."),
                ("Write a research brief", "## Bottom line\nPilot it."),
            ]
        },
        expect={"helpful": {"sub_questions": ["What do trials show?", "What does it cost?", "What are the risks?"]}},
    ),
    "resume-screening": Scenario(
        runs={
            "true": [
                (
                    "Screen this resume",
                    j(
                        score=85,
                        must_haves_met=["Python", "Kubernetes"],
                        must_haves_missing=[],
                        strengths=["10 years Python"],
                        concerns=[],
                        summary="Strong.",
                    ),
                ),
                ("Prepare a first interview", "1. Tell me about a Kubernetes migration."),
            ],
            "false": [
                (
                    "Screen this resume",
                    j(
                        score=40,
                        must_haves_met=["Python"],
                        must_haves_missing=["Kubernetes"],
                        strengths=["Python"],
                        concerns=["No Kubernetes"],
                        summary="Partial.",
                    ),
                ),
                ("Summarise for the recruiter", "Missing Kubernetes evidence."),
            ],
        },
        expect={
            "true": {"recommendation": "interview", "score": 85},
            "false": {"recommendation": "do_not_advance", "missing_must_haves": ["Kubernetes"]},
        },
    ),
}


def on_loopback(value, base: str):
    """``value`` with every http(s) address in it (a string's, or inside JSON text) pointed
    at ``base``, the loopback API server, its path and query kept: what a template would
    call, answered on loopback."""
    if isinstance(value, str):
        return ORIGIN.sub(base, value)
    if isinstance(value, list):
        return [on_loopback(item, base) for item in value]
    if isinstance(value, dict):
        return {key: on_loopback(item, base) for key, item in value.items()}
    return value


def inputs_of(slug: str) -> dict:
    """A scenario's inputs: its own, else its template's ``example_inputs``."""
    inputs = SCENARIOS[slug].inputs
    if inputs is None:
        document = json.loads((CATALOGUE_DIR / f"{slug}.json").read_text(encoding="utf-8"))
        inputs = document["example_inputs"]
    return inputs


def wrong_types(reply: str) -> str:
    """The same JSON answer with every field of the wrong type (text replies unchanged)."""
    try:
        data = json.loads(reply)
    except ValueError:
        return reply
    swap = {str: [1, {"x": 2}], int: "lots", float: "lots", bool: "maybe", list: "none", dict: 7, type(None): {}}
    return json.dumps({key: swap[type(value)] for key, value in data.items()})
