"""Signing in and out, and registration (when the configuration allows it)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import accounts
from ..auth import session as browser_session
from ..errors import Conflict, RateLimited, ValidationFailed
from . import bp
from .forms import LoginForm, RegisterForm
from .rendering import safe_next

SIGN_IN_FAILED = "The email or password is not right."


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form. (Kept as the view ``ui.login``: rate limits attach here.)"""
    next_page = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_page or url_for("ui.dashboard"))
    form = LoginForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        try:
            user = accounts.sign_in(form.email.data, form.password.data)
        except RateLimited as exc:  # too many failures for this account or address
            user, error, status = None, exc.message, 429
            headers["Retry-After"] = str(exc.retry_after)
        else:
            if user is not None:
                browser_session.start(user)
                return redirect(next_page or url_for("ui.dashboard"), 303)
            error, status = SIGN_IN_FAILED, 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form, error=error, next_page=next_page), status, headers


@bp.post("/logout")
def logout():
    """Signing out ends the session (the CSRF token with it) and returns to sign-in.
    POST only, with the CSRF token: another site cannot sign anyone out by a link."""
    browser_session.end()
    flash("You are signed out.", "info")
    return redirect(url_for("ui.login"), 303)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not current_app.config.get("REGISTRATION_ENABLED", True):
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("ui.dashboard"))
    form = RegisterForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            user = accounts.sign_up(form.email.data, form.password.data)
        except RateLimited as exc:
            form.form_errors.append(exc.message)
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except ValidationFailed as exc:
            for problem in exc.details:
                field = getattr(form, problem.path, None)
                (field.errors if field is not None else form.form_errors).append(problem.message)
            status = 422
        except Conflict:
            form.email.errors.append("An account with this email exists already. Sign in instead?")
            status = 409
        else:
            browser_session.start(user)
            flash("Welcome! Start from a template, or build a workflow of your own.", "success")
            return redirect(url_for("ui.dashboard"), 303)
    elif request.method == "POST":
        status = 422
    return render_template("auth/register.html", form=form), status, headers
