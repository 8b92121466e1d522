"""Sign-ups: one account per email however many try at once, and a bound on how many
one address makes (issue 31, finding 8). On both databases: the race is theirs to settle."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.conftest import close_app, make_app
from tests.ui.conftest import both_databases, csrf_token
from webapp.extensions import db
from webapp.models import User

database_url = both_databases


def sign_up_form(client, email: str) -> dict:
    token = csrf_token(client.get("/register").text)
    return {"email": email, "password": "long enough pw", "confirm": "long enough pw", "csrf_token": token}


def test_parallel_sign_ups_of_one_email_make_one_account_and_answer_the_rest_as_taken(app):
    """Ten at once, past the look for an existing account together: the database's unique
    email decides, and each loser hears "exists already" (409), not a 500."""
    clients = [app.test_client() for _ in range(10)]
    forms = [sign_up_form(client, "race@example.com") for client in clients]
    start = threading.Barrier(len(clients))

    def sign_up(client, form):
        start.wait()
        return client.post("/register", data=form)

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(sign_up, clients, forms))
    assert sorted(answer.status_code for answer in answers) == [303] + [409] * 9
    assert all("exists already" in answer.text for answer in answers if answer.status_code == 409)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_sign_ups_are_rate_limited_per_address(database_url, model):
    app = make_app(
        database_url,
        model.base_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_SIGNUP="3 per hour",
        RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
    )
    try:
        made = []
        for number in range(4):
            client = app.test_client()  # a new browser each time: the address is what counts
            made.append(client.post("/register", data=sign_up_form(client, f"bulk{number}@example.com")))
        assert [answer.status_code for answer in made] == [303, 303, 303, 429]
        assert "Too many sign-ups" in made[-1].text and int(made[-1].headers["Retry-After"]) >= 1
        client = app.test_client()
        other = client.post(
            "/register", data=sign_up_form(client, "elsewhere@example.com"), environ_base={"REMOTE_ADDR": "10.9.8.7"}
        )
        assert other.status_code == 303
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(User)) == 4
    finally:
        close_app(app)
