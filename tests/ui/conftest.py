"""UI fixtures: signed-in browsers-in-a-test-client that carry the CSRF token the
way the pages do (a hidden field in forms, ``X-CSRFToken`` on htmx requests)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from jinja2 import BytecodeCache

from tests.conftest import PASSWORD, make_user
from tests.ui.forms import as_multidict, form_fields
from webapp.extensions import db
from webapp.models import Template

TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates shared by every test's app (each app has a fresh Jinja
    environment; compiling the same templates for each test is most of its setup)."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = MemoryBytecodeCache()


@pytest.fixture
def database_url(sqlite_url):
    """Pages on SQLite: what differs between databases lives in the services, whose
    tests run on both. Modules whose pages read database-specific queries (history,
    usage, executions) ask for both again with ``both_databases``."""
    return sqlite_url


both_databases = pytest.fixture(params=["sqlite", "postgres"], name="database_url")(
    lambda request: request.getfixturevalue(f"{request.param}_url")
)


@pytest.fixture
def app(app):
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    return app


class Page:
    """A test client signed in as one user, speaking like the browser UI."""

    def __init__(self, app, user: SimpleNamespace) -> None:
        self.app, self.user = app, user
        self.client = app.test_client()
        self.token = ""

    def sign_in(self) -> Page:
        self.token = csrf_token(self.client.get("/login").text)
        response = self.client.post(
            "/login", data={"email": self.user.email, "password": PASSWORD, "csrf_token": self.token}
        )
        assert response.status_code == 303, response.text
        self.token = csrf_token(self.client.get("/settings").text)  # a new session, a new token
        return self

    def get(self, path: str, *, htmx: bool = False, **kwargs):
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.get(path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, data=None, *, htmx: bool = False, token: bool = True, **kwargs):
        """A form post (``htmx=False``) or an htmx post carrying the token in a header."""
        data = as_multidict(list(data.items()) if isinstance(data, dict) else list(data or []))
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers["HX-Request"] = "true"
            if token:
                headers["X-CSRFToken"] = self.token
        elif token and "csrf_token" not in data:
            data.add("csrf_token", self.token)
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def form(self, path: str, form_id: str) -> list[tuple[str, str]]:
        """What the browser would post from the form ``form_id`` on the page at ``path``."""
        response = self.get(path)
        assert response.status_code == 200, response.text
        return form_fields(response.text, form_id)


def csrf_token(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def alice(app):
    user, _ = make_user(app, "alice@example.com")
    return user


@pytest.fixture
def bob(app):
    user, _ = make_user(app, "bob@example.com")
    return user


@pytest.fixture
def page(app, alice) -> Page:
    """Alice, signed in."""
    return Page(app, alice).sign_in()


@pytest.fixture
def other_page(app, bob) -> Page:
    """Bob, signed in: the other user for access rules."""
    return Page(app, bob).sign_in()


def in_app(app, function, *args, **kwargs):
    """Call a service as a user (by id) inside the app context; returns plain values."""
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, kwargs.pop("user_id"))
        return function(user, *args, **kwargs)


def create_workflow(
    app,
    user,
    definition: dict,
    *,
    name: str = "My workflow",
    public: bool = False,
    category: str = "general",
    description: str = "",
) -> str:
    from webapp.services.workflows import create_workflow as create

    fields = {"name": name, "public": public, "category": category, "description": description, **definition}
    return in_app(app, lambda u: create(u, fields).id, user_id=user.id)


def add_template(
    app,
    definition: dict,
    *,
    name: str = "Product copy",
    category: str = "marketing",
    slug: str | None = None,
    example_inputs: dict | None = None,
) -> str:
    with app.app_context():
        template = Template(
            slug=slug or name.lower().replace(" ", "-"),
            name=name,
            category=category,
            description=f"{name}: writes something useful.",
            how_to_use="Give it a product name.",
            definition=definition,
            example_inputs=example_inputs or {},
        )
        db.session.add(template)
        db.session.commit()
        return template.id


def run_and_wait(app, user, workflow_id: str, inputs: dict, timeout: float = 15) -> str:
    from webapp.runs import start as runs

    def start(u):
        execution = runs.start_execution(u, workflow_id, inputs)
        return runs.wait_for(execution, timeout).id

    return in_app(app, start, user_id=user.id)
