"""The template catalogue: data files in ``catalogue/``, loaded into the database.

Each file is one template (``catalogue/<slug>.json``); the slug is its identity,
so seeding again updates templates in place and never duplicates them.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select, update

from ..config import BASE_DIR
from ..engine.errors import InputError
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import Template, User, Workflow, utcnow
from ..schemas.workflows import CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX, FromTemplateRequest
from .definitions import compile_definition
from .workflows import create_workflow, unused_name

CATALOGUE_DIR = BASE_DIR / "catalogue"
_REQUIRED = ("name", "description", "category", "how_to_use", "nodes", "connections", "example_inputs")
_TEXT_LIMITS = {
    "name": NAME_MAX,
    "description": DESCRIPTION_MAX,
    "category": CATEGORY_MAX,
    "how_to_use": DESCRIPTION_MAX,
}
MAX_SLUG_LENGTH = 100  # Template.slug


class CatalogueError(Exception):
    """A template file is broken; the message names the file and the problem."""


def load_file(path: Path) -> dict:
    if len(path.stem) > MAX_SLUG_LENGTH:
        raise CatalogueError(f"{path.name}: the file name is longer than {MAX_SLUG_LENGTH} characters")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path.name}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogueError(f"{path.name}: must hold one JSON object")
    missing = [key for key in _REQUIRED if data.get(key) in (None, "", [])]  # no inputs: {} examples
    if missing:
        raise CatalogueError(f"{path.name}: missing {', '.join(missing)}")
    problems = [f"unknown key '{key}'" for key in data if key not in _REQUIRED]
    for key, limit in _TEXT_LIMITS.items():
        if not isinstance(data[key], str):
            problems.append(f"'{key}' must be a string")
        elif len(data[key]) > limit:
            problems.append(f"'{key}' is longer than {limit} characters")
    if problems:
        raise CatalogueError(f"{path.name}: {'; '.join(problems)}")
    try:
        graph = compile_definition({"nodes": data["nodes"], "connections": data["connections"]})
    except ValidationFailed as exc:
        problems = "; ".join(f"{p.path}: {p.message}" for p in exc.details)
        raise CatalogueError(f"{path.name}: invalid definition: {problems}") from None
    try:  # a template runs as it is: its examples are inputs a run would take
        graph.input_node.validate_inputs(data["example_inputs"])
    except InputError as exc:
        problems = "; ".join(f"{p.path}: {p.message}" for p in exc.problems)
        raise CatalogueError(f"{path.name}: example_inputs: {problems}") from None
    return data


def seed(directory: Path | None = None) -> tuple[int, int]:
    """Load every ``*.json`` in ``directory`` (default: the catalogue): (created, updated).
    All files are checked before anything is written, so a broken file changes nothing."""
    directory = CATALOGUE_DIR if directory is None else directory
    documents = {path.stem: load_file(path) for path in sorted(directory.glob("*.json"))}
    created = updated = 0
    for slug, data in documents.items():
        template = db.session.scalar(select(Template).where(Template.slug == slug))
        if template is None:
            template = Template(slug=slug)
            db.session.add(template)
            created += 1
        else:
            updated += 1
        template.name, template.description = data["name"], data["description"]
        template.category, template.how_to_use = data["category"], data["how_to_use"]
        template.definition = {"nodes": data["nodes"], "connections": data["connections"]}
        template.example_inputs = data["example_inputs"]
        template.updated_at = utcnow()
    db.session.commit()
    return created, updated


def list_templates(
    *, category: str | None = None, search: str | None = None, limit: int = 20, offset: int = 0
) -> tuple[list[Template], int]:
    query = select(Template)
    if category:
        query = query.where(Template.category == category)
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(func.lower(Template.name).like(pattern) | func.lower(Template.description).like(pattern))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Template.category, Template.name).limit(limit).offset(offset))
    return list(rows), total


def template_categories() -> list[str]:
    return list(db.session.scalars(select(Template.category).distinct().order_by(Template.category)))


def get_template(template_id: str) -> Template:
    template = db.session.get(Template, template_id) if isinstance(template_id, str) else None
    if template is None:
        raise NotFound(f"No template '{template_id}'")
    return template


def example_inputs_for(workflow: Workflow) -> dict:
    """The inputs a workflow made from a template starts its run form from: the
    template's examples (none for a workflow of one's own, or a template gone)."""
    template = db.session.get(Template, workflow.template_id) if workflow.template_id else None
    return template.example_inputs if template is not None else {}


def workflow_from_template(user: User, body: FromTemplateRequest) -> Workflow:
    """A workflow owned by ``user`` (private unless asked), named as asked or after the
    template (numbered when the user has that name already)."""
    template = get_template(body.template_id)
    fields = {
        "name": body.name or unused_name(user, template.name),
        "description": (body.description or "") if "description" in body.model_fields_set else template.description,
        "category": template.category,
        "public": body.public,
        **template.definition,
    }
    workflow = create_workflow(user, fields, template_id=template.id)
    db.session.execute(update(Template).where(Template.id == template.id).values(usage_count=Template.usage_count + 1))
    db.session.commit()
    return workflow
