"""Settings: the account and its API keys (made here, shown once, revoked here)."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from ..auth import accounts
from ..auth import session as browser_session
from ..errors import ValidationFailed
from . import bp
from .forms import ApiKeyForm, PasswordForm, PlainForm
from .providers import providers_context
from .rendering import is_fragment_request, redirect_to, respond


def _keys_page(
    *,
    new_key: str | None = None,
    status: int = 200,
    form: ApiKeyForm | None = None,
    message=None,
    password_form: PasswordForm | None = None,
    editing_provider: str | None = None,
):
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
        password_form=password_form or PasswordForm(formdata=None),
        **providers_context(editing_provider),
    )


@bp.get("/settings")
def settings():
    return _keys_page(editing_provider=request.args.get("edit_provider"))


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


@bp.post("/settings/password")
def password_change():
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(user, form.current.data, form.password.data)
        except ValidationFailed as exc:
            for problem in exc.details:
                getattr(form, problem.path).errors.append(f"Not changed: {problem.message}.")
        else:
            browser_session.end_others(user)
            flash("Your password is changed; every other browser signed in as you is signed out.", "success")
            return redirect_to(url_for("ui.settings"))
    return _keys_page(password_form=form, status=422)
