"""Starts a real sessiond for the Python suites: the binary from SESSIOND_BIN
(scripts/test builds it once) or built here with ``go build ./cmd/server``, a
fresh PostgreSQL database with a random name, a fresh Redis key prefix and a
free port. stop()/start() simulate an outage; close() drops the database."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

# clients/test.sh runs a copy of these tests against the installed wheel and
# says where the repository is.
REPO = os.environ.get("SESSIOND_REPO") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
_built = None


def binary() -> str:
    global _built
    env = os.environ.get("SESSIOND_BIN")
    if env:
        if not os.path.exists(env):
            raise RuntimeError(f"SESSIOND_BIN={env} does not exist")
        return env
    if _built is None:
        d = tempfile.mkdtemp(prefix="sessiond-bin-")
        _built = os.path.join(d, "sessiond")
        subprocess.run(["go", "build", "-o", _built, "./cmd/server"], cwd=REPO, check=True)
    return _built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_url(db: str) -> str:
    base = urllib.parse.urlsplit(os.environ.get(
        "SESSIOND_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"))
    return urllib.parse.urlunsplit(base._replace(path="/" + db))


def _psql(sql: str) -> None:
    subprocess.run(["psql", _pg_url("postgres"), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


class Sessiond:
    """A sessiond process with one tenant."""

    def __init__(self, extra_env=None):
        self.db = "sessiond_py_" + secrets.token_hex(6)
        self.prefix = "sdpy" + secrets.token_hex(5)
        self.redis_url = os.environ.get("SESSIOND_TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.operator_token = "op_test_" + secrets.token_hex(24)
        self.log_path = tempfile.mktemp(prefix="sessiond-py-", suffix=".log")
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "SESSIOND_ADDR": f"127.0.0.1:{self.port}",
            "DATABASE_URL": _pg_url(self.db),
            "REDIS_URL": self.redis_url,
            "SESSIOND_REDIS_PREFIX": self.prefix,
            "SESSIOND_OPERATOR_TOKEN": self.operator_token,
            "SESSIOND_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "SESSIOND_SHUTDOWN_TIMEOUT": "2s",
            **(extra_env or {}),
        }
        self.proc = None
        _psql(f'CREATE DATABASE "{self.db}"')
        try:
            self.start()
            created = self.call(self.operator_token, "POST", "/v1/tenants", {"name": "python suite " + self.prefix})
            self.tenant_id = created["tenant"]["id"]
            self.admin_key = created["api_key"]["secret"]
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary(), "serve"], env=self.env, stdout=log, stderr=log)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sessiond exited ({self.proc.returncode}):\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("sessiond did not become ready in 30 s:\n" + self.logs())

    def peer(self) -> "subprocess.Popen":
        """A second sessiond instance on the same database and Redis prefix, on
        its own port (self.peer_url); stop it with stop_peer()."""
        port = free_port()
        self.peer_url = f"http://127.0.0.1:{port}"
        log = open(self.log_path, "ab")
        self.peer_proc = subprocess.Popen([binary(), "serve"], env={**self.env, "SESSIOND_ADDR": f"127.0.0.1:{port}"},
                                          stdout=log, stderr=log)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.peer_url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self.peer_proc
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("the second sessiond did not become ready:\n" + self.logs())

    def stop_peer(self) -> None:
        p = getattr(self, "peer_proc", None)
        if p and p.poll() is None:
            p.terminate()
            p.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def logs(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def call(self, token: str, method: str, path: str, body=None):
        """Calls sessiond; returns the parsed body (problem documents included)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
        return json.loads(raw) if raw else None

    def admin(self, method: str, path: str, body=None):
        return self.call(self.admin_key, method, path, body)

    def new_api_key(self, name: str, scopes=("sessions",)) -> dict:
        return self.admin("POST", "/v1/api-keys", {"name": name, "scopes": list(scopes)})

    def close(self) -> None:
        self.stop_peer()
        self.stop()
        if shutil.which("redis-cli"):
            keys = subprocess.run(["redis-cli", "-u", self.redis_url, "--scan", "--pattern", self.prefix + ":*"],
                                  capture_output=True, text=True).stdout.split()
            for i in range(0, len(keys), 500):
                subprocess.run(["redis-cli", "-u", self.redis_url, "DEL", *keys[i:i + 500]], stdout=subprocess.DEVNULL)
        _psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        try:
            os.remove(self.log_path)
        except OSError:
            pass


def eventually(fn, timeout=5.0):
    """Retries fn until it stops raising AssertionError (pub/sub changes take up to a second)."""
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
