"""Reading a rendered HTML form the way a browser would submit it (tests only)."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.depth = 0  # >0 while inside the wanted form
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._select_first: str | None = None
        self._option_value: str | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            if self.depth or self.form_id is None or a.get("id") == self.form_id:
                self.depth += 1
            return
        owned = self.form_id is not None and a.get("form") == self.form_id  # outside it, but its field
        if not self.depth and not owned and not (tag == "option" and self._select is not None):
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._select_first = name, None, None
        elif tag == "option" and self._select is not None:
            self._option_value = a.get("value")
            self._option_text = ""
            if "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._textarea_text = name, ""

    def handle_endtag(self, tag):
        if tag == "form" and self.depth:
            self.depth -= 1
        elif tag == "option" and self._select is not None:
            value = self._option_value if self._option_value is not None else self._option_text
            if self._select_first is None:
                self._select_first = value
        elif tag == "select" and self._select is not None:
            value = self._select_value if self._select_value is not None else (self._select_first or "")
            self.fields.append((self._select, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = self._textarea_text.replace("\r\n", "\n")  # as a browser reads it: CRLF is LF,
            text = text[1:] if text.startswith("\n") else text  # and a first newline is markup
            self.fields.append((self._textarea, text))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea_text += data
        elif self._select is not None:
            self._option_text += data


def form_fields(html: str, form_id: str | None = None) -> list[tuple[str, str]]:
    """(name, value) pairs, in document order, of the form with ``form_id``."""
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.fields


def as_multidict(pairs: list[tuple[str, str]]):
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)
