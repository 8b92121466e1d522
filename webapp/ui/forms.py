"""WTForms for the fixed-shape forms. Forms whose shape follows a workflow (the
editor, the run form) are built from the definition instead: see ``draft.py`` and
``run_form.py``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional


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
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=8, max=1000, message="Use at least 8 characters.")],
        description="At least 8 characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class WorkflowMetaForm(FlaskForm):
    """Name, description, category, public: the fields that do not change the version."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=10_000)], render_kw={"rows": 3})
    category = StringField(
        "Category", validators=[Optional(), Length(max=64)], description="Used to group and filter workflows."
    )
    public = BooleanField("Public", description="Anyone signed in can view, run and clone a public workflow.")

    def fields_for_service(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "description": self.description.data or "",
            "category": (self.category.data or "").strip() or "general",
            "public": bool(self.public.data),
        }


class NewWorkflowForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], render_kw={"autofocus": True})
    description = TextAreaField("Description", validators=[Optional(), Length(max=10_000)], render_kw={"rows": 2})
    category = StringField("Category", validators=[Optional(), Length(max=64)])


class ImportForm(FlaskForm):
    document = TextAreaField(
        "Export document (JSON)",
        validators=[DataRequired()],
        description="Paste a file exported from any workflow's page.",
        render_kw={"rows": 10, "spellcheck": "false"},
    )


class CloneForm(FlaskForm):
    name = StringField("Name of your copy", validators=[Optional(), Length(max=200)])


class PasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=8, max=1000, message="Use at least 8 characters.")],
        description="At least 8 characters. Every other browser signed in as you is signed out.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class ApiKeyForm(FlaskForm):
    name = StringField(
        "Key name",
        validators=[Optional(), Length(max=100)],
        description="A label to recognise it by, such as “laptop” or “CI”.",
    )


class PlainForm(FlaskForm):
    """No fields: a CSRF token for buttons that post (delete, revoke, cancel…)."""
