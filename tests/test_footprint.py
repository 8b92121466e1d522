"""What a serving process loads: libraries only some work needs stay out of web processes
and workers until it comes (alembic ~11 MB, only the ``flask`` command migrates;
cryptography's Fernet ~7 MB, only for a provider key or webhook secret), each per process."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# In a child process: the test process has imported everything already.
PROBE = """
import sys
from webapp import create_app
create_app()
print(" ".join(name for name in ("alembic", "flask_migrate", "cryptography.fernet") if name in sys.modules) or "-")
"""


def _child(argv: list[str], database: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "x" * 40}
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)


def test_a_serving_process_loads_neither_the_migration_tools_nor_the_cipher(tmp_path):
    loaded = _child([sys.executable, "-c", PROBE], tmp_path / "app.db")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["-"]


def test_the_flask_command_still_migrates(tmp_path):
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db"]
    upgraded = _child([*flask, "upgrade"], tmp_path / "app.db")
    assert upgraded.returncode == 0, upgraded.stderr
    current = _child([*flask, "current"], tmp_path / "app.db")
    assert current.returncode == 0, current.stderr
    assert "(head)" in current.stdout


def test_a_secret_sealed_under_one_key_opens_under_it_and_not_under_another(app):
    from webapp.secretbox import SecretUnreadable, open_sealed, seal

    with app.app_context():
        app.config["ENCRYPTION_KEY"] = "A" * 43 + "="
        app.extensions.pop("secretbox", None)
        sealed = seal("sk-provider-key")
        assert open_sealed(sealed) == "sk-provider-key"
        app.config["ENCRYPTION_KEY"] = "B" * 43 + "="  # the key rotated
        app.extensions.pop("secretbox")
        with pytest.raises(SecretUnreadable):
            open_sealed(sealed)
