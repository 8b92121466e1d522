"""services/workflows.py: versions, visibility, rating, copying, importing."""

from __future__ import annotations

import pytest

from tests.definitions import echo_definition, spec_example
from webapp.errors import Forbidden, NotFound, ValidationFailed
from webapp.schemas.base import parse
from webapp.schemas.workflows import NAME_MAX, ImportRequest
from webapp.services import workflows


def fields(name: str = "Echo", definition: dict | None = None, **extra) -> dict:
    return {"name": name, **(definition or echo_definition()), **extra}


def test_only_a_changed_definition_makes_a_new_version(as_user):
    alice, _ = as_user
    workflow = workflows.create_workflow(alice, fields())
    assert workflow.version == 1
    renamed = workflows.update_workflow(alice, workflow.id, {"name": "Renamed", "public": True})
    assert (renamed.name, renamed.public, renamed.version) == ("Renamed", True, 1)
    same = workflows.update_workflow(alice, workflow.id, echo_definition())
    assert same.version == 1  # the same nodes and connections: nothing new to run
    changed = workflows.update_workflow(alice, workflow.id, spec_example())
    assert changed.version == 2 and changed.definition["nodes"] == spec_example()["nodes"]


def test_an_invalid_definition_changes_nothing(as_user):
    """Not even in the session: a later commit in the same request (a rate-limit counter
    kept in the database, an audit record) would otherwise store the half-made change."""
    alice, _ = as_user
    workflow = workflows.create_workflow(alice, fields())
    broken = echo_definition()
    broken["connections"].append({"from": "out", "to": "in"})  # a cycle
    with pytest.raises(ValidationFailed) as refused:
        workflows.update_workflow(alice, workflow.id, {**broken, "name": "Renamed"})
    assert "cycle" in {problem.code for problem in refused.value.details}
    kept = workflows.visible_workflow(alice, workflow.id)
    assert (kept.name, kept.version) == ("Echo", 1)


def test_a_private_workflow_is_not_found_and_a_public_one_is_read_only_for_others(as_user):
    alice, bob = as_user
    private = workflows.create_workflow(alice, fields("Private"))
    public = workflows.create_workflow(alice, fields("Public", public=True))
    with pytest.raises(NotFound):
        workflows.visible_workflow(bob, private.id)
    assert workflows.visible_workflow(bob, public.id).id == public.id
    with pytest.raises(Forbidden):
        workflows.update_workflow(bob, public.id, {"name": "Mine"})
    workflows.delete_workflow(alice, public.id)
    with pytest.raises(NotFound):
        workflows.visible_workflow(bob, public.id)


def test_a_rating_is_replaced_and_the_mean_kept_to_one_decimal(as_user):
    alice, bob = as_user
    workflow = workflows.create_workflow(alice, fields(public=True))
    workflows.rate_workflow(alice, workflow.id, 5)
    workflows.rate_workflow(bob, workflow.id, 2)
    assert workflows.rate_workflow(bob, workflow.id, 4).rating == 4.5  # bob's 2 replaced by 4


def test_a_copy_of_a_long_name_stays_within_the_limit(as_user):
    alice, bob = as_user
    source = workflows.create_workflow(alice, fields("x" * NAME_MAX, public=True))
    copy = workflows.clone_workflow(bob, source.id)
    assert copy.owner_id == bob.id and not copy.public
    assert len(copy.name) == NAME_MAX and copy.definition == source.definition


def test_an_import_is_private_whatever_it_says(as_user):
    alice, _ = as_user
    exported = workflows.export_document(alice, workflows.create_workflow(alice, fields(public=True)).id)
    imported = workflows.import_document(alice, parse(ImportRequest, exported))
    assert not imported.public and imported.definition == echo_definition()
    plain = workflows.import_document(alice, parse(ImportRequest, fields("Plain", public=True)))
    assert not plain.public and plain.name == "Plain"


def test_copies_made_without_a_name_are_numbered_past_the_users_own_names(as_user):
    alice, bob = as_user
    source = workflows.create_workflow(alice, fields("Digest", public=True))
    names = [workflows.clone_workflow(bob, source.id).name for _ in range(3)]
    assert names == ["Digest (copy)", "Digest (copy) (2)", "Digest (copy) (3)"]
    assert workflows.clone_workflow(alice, source.id).name == "Digest (copy)"  # another user's names are theirs
    workflows.delete_workflow(bob, workflows.clone_workflow(bob, source.id, name="Mine").id)
    assert workflows.clone_workflow(bob, source.id, name="Digest (copy)").name == "Digest (copy)"  # as asked
    long = workflows.create_workflow(alice, fields("x" * NAME_MAX, public=True))
    first, second = (workflows.clone_workflow(bob, long.id).name for _ in range(2))
    assert len(first) == NAME_MAX and second.endswith(" (2)") and len(second) <= NAME_MAX
