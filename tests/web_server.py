"""``gunicorn wsgi:app`` as deployed (it reads gunicorn.conf.py from the project root),
for tests that need real web processes: several of them, killed, started again."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]


class Gunicorn:
    """Local mode unless ``REDIS_URL`` is among ``settings``. Its access log (one line
    per request: the serving process's pid, the method and path, the status) is read
    once it is killed."""

    def __init__(self, database_url: str, model_url: str, workers: int = 1, **settings) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.workers = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "OPENAI_BASE_URL": model_url,
            "REDIS_URL": "",
            "PYTHONUNBUFFERED": "1",  # the access log must not die in a buffer when the server is killed
            **{key: str(value) for key, value in settings.items()},
        }
        self.process: subprocess.Popen | None = None
        self.access_log: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, serve_check: bool = True) -> Gunicorn:
        command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "--threads", "4"]
        command += ["--workers", str(self.workers), "--access-logfile", "-"]
        command += ["--access-logformat", '%(p)s "%(r)s" %(s)s', "wsgi:app"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        if serve_check:
            eventually(self._answers, timeout=20, interval=0.1, what="gunicorn to start serving")
        return self

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/login", timeout=1)
            return True
        except OSError:
            return False

    def execute_async(self, key: str, workflow_id: str, text: str) -> str:
        request = urllib.request.Request(
            f"{self.url}/api/v1/workflows/{workflow_id}/execute",
            method="POST",
            data=json.dumps({"inputs": {"text": text}, "async": True}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["execution_id"]

    def requests_served(self) -> list[tuple[str, str, int]]:
        """(pid, request line, status) of every request, read after killing the server."""
        self.kill()
        found = (re.match(r'<(\d+)> "([^"]*)" (\d+)', line) for line in self.access_log)
        return [(m[1], m[2], int(m[3])) for m in found if m]

    def kill(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        output, _ = self.process.communicate()
        self.access_log = output.splitlines()
        self.process = None


class Browser:
    """Signs in through the real form, on a new connection for every request (so
    gunicorn hands them to whichever process is free), carrying the cookie."""

    TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        with self.opener.open(f"{server.url}/login", timeout=10) as response:
            self.token = self.TOKEN.search(response.read().decode())[1]

    def sign_in(self, email: str, password: str) -> int:
        data = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": self.token}).encode()
        try:
            with self.opener.open(f"{self.server.url}/login", data=data, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 303 after signing in is the answer itself
