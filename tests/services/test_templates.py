"""services/templates.py: making a workflow from a template."""

from __future__ import annotations

import pytest

from tests.definitions import echo_definition
from tests.ui.conftest import add_template
from webapp.errors import NotFound
from webapp.schemas.workflows import FromTemplateRequest
from webapp.services import templates


def test_a_workflow_from_a_template_is_the_callers_and_counted(app, as_user):
    alice, bob = as_user
    template_id = add_template(app, echo_definition(), name="Shouter")
    mine = templates.workflow_from_template(alice, FromTemplateRequest(template_id=template_id))
    assert (mine.owner_id, mine.name, mine.public) == (alice.id, "Shouter", False)
    named = templates.workflow_from_template(
        bob, FromTemplateRequest(template_id=template_id, name="Louder", description=None, public=True)
    )
    assert (named.name, named.description, named.public) == ("Louder", "", True)  # null: empty
    assert templates.get_template(template_id).usage_count == 2


def test_an_unknown_template_is_not_found(as_user):
    alice, _ = as_user
    with pytest.raises(NotFound):
        templates.workflow_from_template(alice, FromTemplateRequest(template_id="tpl_nope"))


def test_workflows_from_one_template_are_numbered_unless_named(app, as_user):
    alice, _ = as_user
    template_id = add_template(app, echo_definition(), name="Shouter")
    made = [templates.workflow_from_template(alice, FromTemplateRequest(template_id=template_id)) for _ in range(3)]
    assert [workflow.name for workflow in made] == ["Shouter", "Shouter (2)", "Shouter (3)"]
    named = templates.workflow_from_template(alice, FromTemplateRequest(template_id=template_id, name="Shouter"))
    assert named.name == "Shouter"
