"""Entry point for gunicorn (``wsgi:app``) and the ``flask`` command (``--app wsgi``)."""

from webapp import create_app

app = create_app()
