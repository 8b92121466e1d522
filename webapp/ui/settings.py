"""Settings: the account and its API keys (made here, shown once, revoked here)."""

from __future__ import annotations

from flask import flash, url_for
from flask_login import current_user

from ..auth import accounts
from . import bp
from .forms import ApiKeyForm, PlainForm
from .rendering import is_fragment_request, redirect_to, respond


def _keys_page(*, new_key: str | None = None, status: int = 200, form: ApiKeyForm | None = None, message=None):
    user = current_user._get_current_object()
    return respond(
        "settings/index.html",
        "partials/_api_keys.html",
        status=status,
        keys=accounts.active_keys(user),
        form=form or ApiKeyForm(formdata=None),
        new_key=new_key,
        action_form=PlainForm(),
        message=message,
    )


@bp.get("/settings")
def settings():
    return _keys_page()


@bp.post("/settings/keys")
def api_key_create():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _keys_page(form=form, status=422)
    raw = accounts.issue_api_key(current_user._get_current_object(), form.name.data or "")
    # Shown in this answer only: never stored, never in a flash message, a redirect or a cache.
    response = _keys_page(new_key=raw, form=ApiKeyForm(formdata=None))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/settings/keys/<key_id>/revoke")
def api_key_revoke(key_id: str):
    accounts.revoke_api_key(current_user._get_current_object(), key_id)
    message = "The key is revoked; requests signed with it are refused from now on."
    if not is_fragment_request():
        flash(message, "info")
        return redirect_to(url_for("ui.settings"))
    return _keys_page(message=message)
