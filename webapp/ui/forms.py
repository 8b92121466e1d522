"""WTForms for the fixed-shape forms. Forms whose shape follows a workflow (the
editor, the run form) are built from the definition instead: see ``draft.py`` and
``run_form.py``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..auth.accounts import MIN_PASSWORD_LENGTH
from ..schemas.workflows import CATEGORY_MAX, DEFAULT_CATEGORY, DESCRIPTION_MAX, NAME_MAX


def new_password(label: str, description: str) -> PasswordField:
    length = Length(min=MIN_PASSWORD_LENGTH, max=1000, message=f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    return PasswordField(
        label, validators=[DataRequired(), length], description=description, render_kw={"autocomplete": "new-password"}
    )


def repeated_password(label: str) -> PasswordField:
    """The new password again: equal to the form's ``password`` field."""
    return PasswordField(
        label,
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "username", "autofocus": True}
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=1000)], render_kw={"autocomplete": "current-password"}
    )


class RegisterForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "username", "autofocus": True}
    )
    password = new_password("Password", f"At least {MIN_PASSWORD_LENGTH} characters.")
    confirm = repeated_password("Repeat the password")


class WorkflowMetaForm(FlaskForm):
    """Name, description, category, public: the fields that do not change the version."""

    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    description = TextAreaField(
        "Description", validators=[Optional(), Length(max=DESCRIPTION_MAX)], render_kw={"rows": 3}
    )
    category = StringField(
        "Category", validators=[Optional(), Length(max=CATEGORY_MAX)], description="Used to group and filter workflows."
    )
    public = BooleanField("Public", description="Anyone signed in can view, run and clone a public workflow.")

    def fields_for_service(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "description": self.description.data or "",
            "category": (self.category.data or "").strip() or DEFAULT_CATEGORY,
            "public": bool(self.public.data),
        }


class NewWorkflowForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)], render_kw={"autofocus": True})
    description = TextAreaField(
        "Description", validators=[Optional(), Length(max=DESCRIPTION_MAX)], render_kw={"rows": 2}
    )
    category = StringField("Category", validators=[Optional(), Length(max=CATEGORY_MAX)])


class ImportForm(FlaskForm):
    document = TextAreaField(
        "Export document (JSON)",
        validators=[DataRequired()],
        description="Paste a file exported from any workflow's page.",
        render_kw={"rows": 10, "spellcheck": "false"},
    )


class CloneForm(FlaskForm):
    name = StringField("Name of your copy", validators=[Optional(), Length(max=NAME_MAX)])


class PasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )
    password = new_password(
        "New password",
        f"At least {MIN_PASSWORD_LENGTH} characters. Every other browser signed in as you is signed out.",
    )
    confirm = repeated_password("Repeat the new password")


class ApiKeyForm(FlaskForm):
    name = StringField(
        "Key name",
        validators=[Optional(), Length(max=100)],
        description="A label to recognise it by, such as “laptop” or “CI”.",
    )


class PlainForm(FlaskForm):
    """No fields: a CSRF token for buttons that post (delete, revoke, cancel…)."""
