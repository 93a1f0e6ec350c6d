"""A standard-library client of the sessiond REST API: keep-alive HTTP/1.1
(http.client) connections in a pool shared by threads, no dependencies."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from ._version import __version__

__all__ = [
    "Client",
    "SessiondError",
    "OPERATIONS",
    "SESSION_ENDED_CODES",
    "browser_status",
    "AMR_METHODS",
    "aal_of",
]

#: Codes that mean "this session is over": clear the cookie, treat the user as logged out.
SESSION_ENDED_CODES = frozenset(
    {"session_invalid", "session_expired_idle", "session_expired_absolute", "binding_mismatch"}
)


#: The authentication methods sessiond accepts (RFC 8176), each with its kind:
#: knowledge "k", possession "p", inherence "i". Two kinds make assurance level 2.
AMR_METHODS = {
    "pwd": "k", "pin": "k", "kba": "k",
    "otp": "p", "hwk": "p", "swk": "p", "sms": "p", "tel": "p", "sc": "p", "pop": "p",
    "face": "i", "fpt": "i", "iris": "i", "retina": "i", "vbm": "i",
}


def aal_of(methods) -> int:
    """The assurance level sessiond gives these methods (names, or amr entries
    ``{"method": ...}``): 2 when they hold two different kinds, else 1."""
    kinds = {AMR_METHODS.get(m["method"] if isinstance(m, dict) else m) for m in methods or ()}
    kinds.discard(None)
    return 2 if len(kinds) >= 2 else 1


class SessiondError(Exception):
    """Every failure of a sessiond call.

    Switch on ``code``, never on ``http_status``: ``unauthorized`` (the API key
    is bad) and ``session_invalid`` (the user's session is over) are both 401,
    and only the second means "log the user out". A network error or timeout
    has code ``unavailable`` and http_status 0, like sessiond's own 503.
    """

    def __init__(self, code: str, http_status: int, detail: str, retry_after: Optional[int] = None,
                 request_id: Optional[str] = None, problem: Optional[dict] = None):
        super().__init__(f"sessiond: {code}: {detail}")
        self.code = code
        self.http_status = http_status
        self.detail = detail
        self.retry_after = retry_after
        self.request_id = request_id
        self.problem = problem

    @property
    def session_ended(self) -> bool:
        """True when the user's session is over (invalid, expired, binding mismatch), and only then."""
        return self.code in SESSION_ENDED_CODES

    @property
    def step_up(self) -> Optional[dict]:
        """With ``step_up_required``, what the session lacks: ``{"aal": required,
        "have_aal": the session's, "factors": [methods to prove again]}``; else None."""
        su = (self.problem or {}).get("step_up")
        return su if isinstance(su, dict) else None

    @property
    def unavailable(self) -> bool:
        """True when sessiond was unreachable or said 503: retry later, log nobody out."""
        return self.code == "unavailable"


def browser_status(err: SessiondError) -> int:
    """The status a browser gets when a sessiond call fails: 503 when sessiond is
    down, 500 when the API key is bad (never sessiond's own 401)."""
    return {
        "unavailable": 503,
        "rate_limited": 429,
        "csrf_mismatch": 403,
        "reauth_required": 403,
        "step_up_required": 403,
        "session_limit_reached": 409,
        "version_conflict": 409,
        "payload_too_large": 413,
    }.get(err.code, 500)


@dataclass(frozen=True)
class Operation:
    """One API call: the tests check each against api/openapi.yaml."""

    method: str
    path: str
    status: int
    sends: tuple = ()
    reads: tuple = ()
    query: tuple = ()
    content_type: str = "application/json"


OPERATIONS = {
    "create_session": Operation("POST", "/v1/sessions", 201,
                                ("user_id", "data", "device", "idle_timeout", "absolute_timeout", "amr", "remember",
                                 "actor"),
                                ("token", "csrf_token", "session", "evicted")),
    "verify": Operation("POST", "/v1/sessions/verify", 200, ("token", "csrf_token", "max_auth_age", "device",
                                                               "min_aal", "max_factor_age"),
                        ("session", "token", "csrf_token", "binding_mismatch")),
    "regenerate": Operation("POST", "/v1/sessions/regenerate", 200, ("token", "user_id", "reauthenticated", "amr",
                                                                      "remember"),
                            ("token", "csrf_token", "session", "evicted")),
    "revoke_token": Operation("POST", "/v1/sessions/revoke", 204, ("token",)),
    "get_session": Operation("GET", "/v1/sessions/{session_id}", 200, reads=("id", "user_id", "data", "version",
                                                                                     "profile", "actor")),
    "patch_data": Operation("PATCH", "/v1/sessions/{session_id}", 200, reads=("id", "data", "version"),
                            content_type="application/merge-patch+json"),
    "revoke_session": Operation("DELETE", "/v1/sessions/{session_id}", 204),
    "user_sessions": Operation("GET", "/v1/users/{user_id}/sessions", 200, reads=("sessions", "next_cursor"),
                               query=("cursor", "limit")),
    "revoke_user_sessions": Operation("DELETE", "/v1/users/{user_id}/sessions", 200, reads=("revoked",),
                                      query=("except", "actor")),
    "keys": Operation("GET", "/v1/keys", 200, reads=("keys",)),
    "rotate_key": Operation("POST", "/v1/keys/rotate", 201, ("grace_period",), ("kid", "state")),
    "retire_key": Operation("POST", "/v1/keys/{kid}/retire", 200, reads=("kid", "state")),
    "create_api_key": Operation("POST", "/v1/api-keys", 201, ("name", "scopes"), ("id", "secret")),
    "revoke_api_key": Operation("DELETE", "/v1/api-keys/{api_key_id}", 204),
    "create_tenant": Operation("POST", "/v1/tenants", 201, ("name",), ("tenant", "api_key")),
}


_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def parse_time(s: Optional[str]) -> Optional[datetime]:
    """An RFC 3339 timestamp of sessiond (Go's, up to 9 fractional digits, Z)
    as an aware datetime; None for None or "". fromisoformat alone takes
    neither Z nor 9 digits before Python 3.11."""
    if not s:
        return None
    m = _TIME.fullmatch(s)
    if not m:
        raise ValueError(f"sessiond: not an RFC 3339 time: {s!r}")
    frac = (m.group(2) or "")[:6].ljust(6, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}")


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _methods(amr) -> Optional[list]:
    """amr as a JSON list (a single method name may be passed as a string)."""
    if amr is None:
        return None
    return [amr] if isinstance(amr, str) else list(amr)


class _Operations:
    """The API's operations, shared by Client and AsyncClient: each builds one
    call and hands it to ``_call(name, ..., pick=f)``, which returns f(answer)
    (Client) or a coroutine of it (AsyncClient)."""

    # --- sessions ---------------------------------------------------------

    def create_session(self, user_id: Optional[str] = None, data: Optional[dict] = None,
                       device: Optional[dict] = None, idle_timeout: Optional[int] = None,
                       absolute_timeout: Optional[int] = None, amr: Optional[list] = None,
                       remember: bool = False, actor: Optional[dict] = None) -> dict:
        """Starts a session; with user_id it is a login (auth_time is set), and
        ``amr`` names the methods the user proved (RFC 8176: ``["pwd", "otp"]``).
        ``remember=True`` makes a remember-me session (the policy's ``remember_me``
        lifetime; ``invalid_request`` when it has none); ``actor`` (``{"type":
        "support", "id": "agent-7"}``) an impersonated one, held by the actor as user_id."""
        body = _drop_none(dict(
            user_id=user_id, data=data, device=device, idle_timeout=idle_timeout, absolute_timeout=absolute_timeout,
            amr=_methods(amr), actor=actor))
        if remember:
            body["remember"] = True
        return self._call("create_session", body=body)

    def regenerate(self, token: str, user_id: Optional[str] = None, reauthenticated: bool = False,
                   amr: Optional[list] = None, remember: bool = False) -> dict:
        """New token, id and CSRF token for the session; the old token dies at once.
        ``remember=True`` with user_id: a remember-me login.
        ``amr``: with user_id (a login) the new session's only factors; with
        reauthenticated (a step-up) added to the session's, a method it had
        getting the new time."""
        body = _drop_none(dict(token=token, user_id=user_id))
        if reauthenticated:
            body["reauthenticated"] = True
        if amr is not None:
            body["amr"] = _methods(amr)
        if remember:
            body["remember"] = True
        return self._call("regenerate", body=body, pick=self._dropping(lambda c: c.forget_token(token)))

    def revoke_token(self, token: str) -> None:
        """Ends the session of a token (logout); idempotent, junk included."""
        return self._call("revoke_token", body={"token": token},
                          pick=self._dropping(lambda c: c.forget_token(token), _nothing))

    def get_session(self, session_id: str) -> dict:
        return self._call("get_session", params=[session_id])

    def patch_data(self, session_id: str, patch: dict, if_version: Optional[int] = None) -> dict:
        """Applies an RFC 7396 merge patch to the session's data (None members are removed)."""
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else {}
        return self._call("patch_data", params=[session_id], body=patch, headers=headers,
                          pick=self._dropping(lambda c: c.forget_sessions([session_id])))

    def revoke_session(self, session_id: str) -> None:
        return self._call("revoke_session", params=[session_id],
                          pick=self._dropping(lambda c: c.forget_sessions([session_id]), _nothing))

    def user_sessions_page(self, user_id: str, cursor: Optional[str] = None, limit: Optional[int] = None) -> dict:
        """One page of the user's live sessions (devices), oldest first:
        ``{"sessions": [...], "next_cursor": ""}`` ("" on the last page)."""
        return self._call("user_sessions", params=[user_id], query=_drop_none({"cursor": cursor, "limit": limit}))

    def revoke_user_sessions(self, user_id: str, except_id: Optional[str] = None) -> list:
        """Ends every session of the user but except_id ("log out other devices"); returns the ids ended."""
        query = {"except": except_id} if except_id else None
        return self._call("revoke_user_sessions", params=[user_id], query=query,
                          pick=self._dropping(lambda c: c.forget_user(user_id, except_id), lambda a: a["revoked"]))

    # --- administration (admin scope) and operator -------------------------

    def keys(self) -> list:
        return self._call("keys", pick=lambda a: a["keys"])

    def rotate_key(self, grace_period: Optional[int] = None) -> dict:
        return self._call("rotate_key", body=_drop_none({"grace_period": grace_period}))

    def retire_key(self, kid: str) -> dict:
        return self._call("retire_key", params=[kid])

    def create_api_key(self, name: str, scopes=("sessions",)) -> dict:
        return self._call("create_api_key", body={"name": name, "scopes": list(scopes)})

    def revoke_api_key(self, key_id: str) -> None:
        return self._call("revoke_api_key", params=[key_id], pick=_nothing)

    def create_tenant(self, name: str) -> dict:
        return self._call("create_tenant", body={"name": name})

    # --- shared plumbing -------------------------------------------------

    def revoke_impersonations(self, user_id: str) -> list:
        """Ends every impersonated session of the user (those created with
        ``actor``), leaving the user's own; returns the ids ended.
        (revoke_user_sessions ends them too.)"""
        def ended(answer):
            if self.cache:
                self.cache.forget_sessions(answer["revoked"])
            return answer["revoked"]
        return self._call("revoke_user_sessions", params=[user_id], query={"actor": "any"},
                          pick=self._dropping(lambda c: c.forget_acting(user_id), ended))

    def _dropping(self, drop, pick=None):
        """A pick that first drops what this call changed from the cache (if
        any), so that the next request of this process sees the change even
        before the stream's frame arrives."""
        pick = pick or _same

        def after(answer):
            if self.cache:
                drop(self.cache)
            return pick(answer)
        return after

    def _setup(self):
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"sessiond: base URL {self.url!r} must be http(s)://host[:port]")
        if not self.api_key:
            raise ValueError("sessiond: an API key is required")
        self.url = self.url.rstrip("/")

    @staticmethod
    def _verify_body(token, csrf_token=None, max_auth_age=None, device=None, min_aal=None,
                     max_factor_age=None) -> dict:
        return _drop_none(dict(token=token, csrf_token=csrf_token, max_auth_age=max_auth_age, device=device,
                               min_aal=min_aal, max_factor_age=dict(max_factor_age) if max_factor_age else None))

    def _prepare(self, name: str, params=(), body=None, query=None, headers=None):
        """The request of one operation: (operation, path, body bytes or None, headers)."""
        op = OPERATIONS[name]
        path = op.path
        for p in params:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + urllib.parse.quote(str(p), safe="") + path[end + 1:]
        if query:
            path += "?" + urllib.parse.urlencode(query)
        data = None
        req_headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": self.user_agent,
        }
        req_headers.update(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            req_headers["Content-Type"] = op.content_type
        return op, path, data, req_headers


def _nothing(_answer):
    return None


def _same(answer):
    return answer


@dataclass
class Client(_Operations):
    """Calls one sessiond with one credential (a tenant API key, or the operator
    token for create_tenant). Thread-safe; connections are kept alive and
    shared (``close()`` ends them). Every method returns the parsed JSON answer
    (dicts as in api/openapi.yaml) or raises SessiondError.

    ``cache=True`` (or a ``Cache``) turns on the local verified-session cache:
    see sessiond.cache."""

    url: str
    api_key: str
    timeout: float = 5.0
    user_agent: str = f"sessiond-python/{__version__}"
    cache: Any = None
    _pool: Any = field(default=None, repr=False, compare=False, init=False)

    def __post_init__(self):
        self._setup()
        # No redirects, no proxies from the environment: calls go to sessiond only.
        self._pool = _Pool(self.url, self.timeout)
        if self.cache is True:
            from .cache import Cache
            self.cache = Cache()
        if self.cache:
            self.cache.start(self)

    def verify(self, token: str, csrf_token: Optional[str] = None, max_auth_age: Optional[int] = None,
               device: Optional[dict] = None, min_aal: Optional[int] = None,
               max_factor_age: Optional[dict] = None) -> dict:
        """Verifies a token (any string, as found in a cookie). When the answer has
        ``token``, sessiond re-signed it after a key rotation: replace the cookie.
        ``min_aal`` (1 or 2; the policy's applies too) and ``max_factor_age``
        (``{"otp": 300}``: seconds since each method was proved) are step-up
        checks: short of them, SessiondError ``step_up_required`` whose
        ``step_up`` says what to prove. With a cache, a hit answers without a
        network call (only when it meets every check, the policy's min_aal too)."""
        body = self._verify_body(token, csrf_token, max_auth_age, device, min_aal, max_factor_age)
        if not self.cache:
            return self._call("verify", body=body)
        hit = self.cache.lookup(token, csrf_token, max_auth_age, device, min_aal, max_factor_age)
        if hit is not None:
            return hit
        epoch = self.cache.epoch()
        try:
            answer = self._call("verify", body=body)
        except SessiondError as e:
            self.cache.failed(token, e)
            raise
        self.cache.store(token, csrf_token, device, answer, epoch)
        return answer

    def user_sessions(self, user_id: str, max_sessions: int = 10_000) -> list:
        """All of the user's live sessions (devices), oldest first, following every page."""
        out, cursor = [], None
        while True:
            page = self.user_sessions_page(user_id, cursor=cursor, limit=200)
            out += page["sessions"]
            cursor = page.get("next_cursor")
            if not cursor or len(out) >= max_sessions:
                return out

    # --- transport --------------------------------------------------------

    def _call(self, name: str, params=(), body=None, query=None, headers=None, pick=_same):
        op, path, data, req_headers = self._prepare(name, params, body, query, headers)
        try:
            status, res_headers, raw = self._pool.request(op.method, path, data, req_headers)
        except (OSError, http.client.HTTPException) as e:
            raise SessiondError("unavailable", 0, f"{op.method} {op.path}: sessiond unreachable: {e}") from e
        return pick(_answer(op, status, res_headers, raw))

    def close(self) -> None:
        """Stops the cache's stream (if any) and closes the pooled connections
        (the client stays usable without its cache: it dials again)."""
        if self.cache:
            self.cache.stop()
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _answer(op: Operation, status: int, headers, raw: bytes):
    """The parsed JSON of a 2xx answer, or the SessiondError of any other.
    headers is anything with a case-insensitive get()."""
    if 200 <= status < 300:
        try:
            return json.loads(raw) if raw else None
        except ValueError as e:
            raise SessiondError("internal", status, f"{op.method} {op.path}: invalid JSON") from e
    if 300 <= status < 400:
        # Redirects are never followed: calls go to sessiond only.
        return _raise(op, status, headers, b"")
    return _raise(op, status, headers, raw)


class _HTTPConnection(http.client.HTTPConnection):
    """http.client writes a request's headers and body in two sends: with
    Nagle's algorithm on, the body may wait for the peer's delayed ACK."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Pool:
    """Keep-alive HTTP/1.1 connections to one origin (http.client), shared by
    threads: each call takes an idle connection or dials one, and gives it back
    after reading the whole answer. A connection idle for longer than
    max_idle seconds is closed rather than reused (sessiond closes idle ones
    after 120 s). A call on a reused connection that the server had already
    closed (no byte of an answer came back) is sent once more on a new one,
    and the other idle connections are dropped."""

    def __init__(self, url: str, timeout: float, max_idle_conns: int = 32, max_idle: float = 60.0):
        parsed = urllib.parse.urlsplit(url)
        self._https = parsed.scheme == "https"
        self._host, self._port = parsed.hostname, parsed.port
        self._base = parsed.path.rstrip("/")
        self._timeout, self._max_idle_conns, self._max_idle = timeout, max_idle_conns, max_idle
        self._idle: list = []  # (connection, time it went idle)
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context() if self._https else None

    def _dial(self):
        if self._https:
            return _HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)
        return _HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _take(self):
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < self._max_idle:
                    return conn, True
                conn.close()
        return self._dial(), False

    def _give_back(self, conn):
        with self._lock:
            if len(self._idle) < self._max_idle_conns:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def request(self, method: str, path: str, body, headers: dict):
        """Sends one request; returns (status, headers, body bytes)."""
        for attempt in (0, 1):
            conn, reused = self._take() if attempt == 0 else (self._dial(), False)
            try:
                conn.request(method, self._base + path, body=body, headers=headers)
                res = conn.getresponse()
                raw = res.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if reused and attempt == 0:
                    # The server closed it (idle, or restarted): the other idle ones
                    # are likely closed too. Drop them and send once more on a new one.
                    self.close()
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if res.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return res.status, res.headers, raw
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def _raise(op: Operation, status: int, headers, raw: bytes):
    ctype = headers.get("Content-Type", "") or ""
    retry = headers.get("Retry-After", "") or ""
    retry_after = int(retry) if retry.isdigit() else None
    problem = None
    if "json" in ctype:
        try:
            p = json.loads(raw)
            if isinstance(p, dict) and isinstance(p.get("code"), str):
                problem = p
        except ValueError:
            pass
    if problem:
        code, detail = problem["code"], problem.get("detail") or problem.get("title", "")
    else:
        # A 5xx without a problem body (a proxy's 502) is an outage as far as callers know.
        code, detail = ("unavailable" if status >= 500 else "internal"), f"HTTP {status}"
    raise SessiondError(code, status, f"{op.method} {op.path}: {detail}", retry_after,
                        (problem or {}).get("request_id") or headers.get("X-Request-Id"), problem)
