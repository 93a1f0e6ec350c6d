"""WSGI middleware: ``environ["sessiond.session"]`` backed by sessiond.

On each request with a session cookie it makes one verify call (with the
CSRF token on POST/PUT/PATCH/DELETE) and then, by the problem code:

* valid: the session is in the environ; when sessiond re-signed the token
  after a key rotation, the cookie is re-set;
* session ended (invalid, expired, binding mismatch): the cookie is cleared
  and the request goes on with a new anonymous session;
* ``csrf_mismatch``: 403;
* sessiond unreachable or ``unavailable``: 503 with Retry-After, cookie kept;
* ``unauthorized`` / ``forbidden`` (API key revoked or lacking the scope):
  500, cookie kept: the app is misconfigured, the user's session is fine.

A SessiondError raised by the app (say from ``session.login``) before it
starts its response is answered the same way.
"""

from __future__ import annotations

import io
import ipaddress
import json
import urllib.parse
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Callable, Optional

from .client import Client, SessiondError, aal_of, browser_status, parse_time

__all__ = ["SessionMiddleware", "Session", "get_session", "require_login", "require_recent_auth", "require_aal",
           "require_factor", "merge_patch"]

ENVIRON_KEY = "sessiond.session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_REASONS = {403: "Forbidden", 409: "Conflict", 413: "Content Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def get_session(environ) -> "Session":
    """The request's session (set by SessionMiddleware)."""
    return environ[ENVIRON_KEY]


_parse_time = parse_time


def _clone(d) -> dict:
    return json.loads(json.dumps(d or {}))


def merge_patch(before: dict, after: dict) -> Optional[dict]:
    """The RFC 7396 merge patch turning before into after, or None if they are
    equal: dicts are diffed key by key, anything else replaced whole, removed
    (or None) keys become null."""
    patch = {}
    for k, v in before.items():
        if after.get(k) is None and v is not None:
            patch[k] = None
    for k, v in after.items():
        if v is None:
            continue
        if k not in before:
            patch[k] = v
        elif isinstance(before[k], dict) and isinstance(v, dict):
            sub = merge_patch(before[k], v)
            if sub is not None:
                patch[k] = sub
        elif json.dumps(before[k], sort_keys=True) != json.dumps(v, sort_keys=True):
            patch[k] = v
    return patch or None


class Session:
    """The session of one request: the user's, or a new anonymous one when the
    browser sent no valid cookie. Change ``data`` and call ``save()``; call
    ``login(user_id)`` after checking a password (a new token: a planted cookie
    is worthless), ``destroy()`` to log out. Call them before start_response.

    Factors: ``amr`` lists what the user proved (``{"method": "pwd", "at":
    datetime}``, RFC 8176 methods) and ``aal`` the assurance level they give
    (2: two kinds of factor; None while the session is new). ``login(user_id,
    amr=["pwd"])`` names the login's factors; ``step_up(["otp"])`` adds one
    the user just proved; ``assured(min_aal=2)`` or ``assured(max_factor_age=
    {"otp": 300})`` asks sessiond whether the session meets a step-up (when
    not, ``step_up_needed`` holds sessiond's ``step_up``: what to prove).

    ``profile`` is the lifetime the session lives by (``"standard"``,
    ``"remember_me"`` after ``login(user_id, remember=True)``, or
    ``"impersonation"``; None while new) and ``actor`` who holds an
    impersonated session (``{"type": "support", "id": ...}``; None for the
    user's own), for a "you are being impersonated" banner."""

    def __init__(self, mw: "SessionMiddleware", environ):
        self._mw = mw
        self._environ = environ
        self._cookie: Optional[str] = None  # the Set-Cookie line to send, if any
        self._reset()

    def _reset(self):
        self._token: Optional[str] = None
        self._saved: dict = {}
        self.id: Optional[str] = None
        self.user_id: Optional[str] = None
        self.data: dict = {}
        self.csrf_token: Optional[str] = None
        self.auth_time: Optional[datetime] = None
        self.expires_at: Optional[datetime] = None
        self.amr: list = []
        self.aal: Optional[int] = None
        self.profile: Optional[str] = None
        self.actor: Optional[dict] = None
        self.step_up_needed: Optional[dict] = None
        self.info: Optional[dict] = None

    @property
    def is_new(self) -> bool:
        """True until the session exists in sessiond."""
        return self._token is None

    @property
    def device(self) -> dict:
        """The request's user agent and IP, for sessiond's device binding."""
        d = {}
        ua = self._environ.get("HTTP_USER_AGENT")
        if ua:
            d["user_agent"] = ua[:1024]
        ip = self._mw.client_ip(self._environ)
        if ip:
            d["ip"] = ip
        return d

    def _load(self, token: str, s: dict, csrf: str, set_cookie: bool):
        self._token, self.info, self.id, self.user_id, self.csrf_token = token, s, s["id"], s.get("user_id"), csrf
        self.data, self._saved = _clone(s.get("data")), _clone(s.get("data"))
        self.auth_time = _parse_time(s.get("auth_time"))
        self.expires_at = _parse_time(s.get("expires_at"))
        self.amr = [{"method": f.get("method"), "at": _parse_time(f.get("at"))} for f in s.get("amr") or ()]
        self.aal = s.get("aal") or aal_of(self.amr)
        self.profile, self.actor = s.get("profile"), s.get("actor")
        if set_cookie:
            self._cookie = self._mw._cookie_line(token, self.expires_at)

    def _clear(self):
        self._reset()
        self._cookie = self._mw._cookie_line(None, None)

    def _issued(self, out: dict):
        self._load(out["token"], out["session"], out["csrf_token"], True)

    def _create_body(self, data):
        return dict(data=data, device=self.device, idle_timeout=self._mw.idle_timeout,
                    absolute_timeout=self._mw.absolute_timeout)

    def save(self) -> None:
        """Stores ``data``: creates the session (and sets the cookie) if new, else
        sends a JSON merge patch of what changed (nothing if nothing did)."""
        client = self._mw.client
        if self.is_new:
            self._issued(client.create_session(**self._create_body(self.data)))
            return
        patch = merge_patch(self._saved, self.data)
        if patch is None:
            return
        s = client.patch_data(self.id, patch)
        self.info, self.data, self._saved = s, _clone(s.get("data")), _clone(s.get("data"))

    def login(self, user_id: str, amr: Optional[list] = None, remember: bool = False) -> None:
        """Logs user_id in: new token and id (the old cookie dies at once),
        auth_time now, data carried over (unsaved changes included); ``amr``
        names the methods the user proved (``["pwd"]``), the session's only factors.
        ``remember=True`` ("Remember me" ticked) makes a remember-me session: it
        lives by the tenant policy's ``remember_me`` lifetime (sessiond answers
        400 ``invalid_request``, field ``remember``, when the policy has none),
        ``profile`` is ``"remember_me"``, and the cookie lasts until ``expires_at``."""
        client = self._mw.client
        data = self.data
        if not self.is_new:
            pending = merge_patch(self._saved, self.data)
            try:
                self._issued(client.regenerate(self._token, user_id=user_id, amr=amr, remember=remember))
                if pending is not None:
                    self.data = data
                    self.save()
                return
            except SessiondError as e:
                if not e.session_ended:
                    raise
                # The session ended since this request verified it: start afresh.
        self._issued(client.create_session(user_id=user_id, amr=amr, remember=remember, **self._create_body(data)))

    def regenerate(self, reauthenticated: bool = False, amr: Optional[list] = None) -> None:
        """New token and id (privilege change); with reauthenticated, auth_time becomes now
        (and ``amr``, the methods just proved, are added to the session's)."""
        if self.is_new:
            self.save()
            return
        self._issued(self._mw.client.regenerate(self._token, reauthenticated=reauthenticated, amr=amr))

    def reauthenticate(self, amr: Optional[list] = None) -> None:
        """The user just re-entered their password: regenerate(reauthenticated=True)
        (``amr``: what they proved, e.g. ``["pwd"]``, which gets the new time)."""
        self.regenerate(reauthenticated=True, amr=amr)

    def step_up(self, amr: list) -> None:
        """The user just proved the methods of amr (``["otp"]``): a new token whose
        session has them too, each at the new time (and auth_time now)."""
        self._check_step_up(amr)
        self.regenerate(reauthenticated=True, amr=amr)

    def _check_step_up(self, amr) -> None:
        if self.is_new or self.user_id is None:
            raise ValueError("sessiond: step_up needs a logged-in session")
        if not amr:
            raise ValueError("sessiond: step_up needs the methods the user proved")

    def recently_authenticated(self, max_age: int) -> bool:
        """Asks sessiond whether the user authenticated at most max_age seconds ago."""
        return self._checked(max_auth_age=int(max_age))

    def assured(self, min_aal: Optional[int] = None, max_factor_age: Optional[dict] = None) -> bool:
        """Asks sessiond whether the session meets a step-up: assurance level
        min_aal (and the policy's), each method of max_factor_age (``{"otp": 300}``)
        proved at most that many seconds ago. When not, ``step_up_needed`` says
        what to prove (sessiond's ``step_up``: ``{"aal", "have_aal", "factors"}``)."""
        return self._checked(min_aal=min_aal, max_factor_age=max_factor_age)

    def _checked(self, **checks) -> bool:
        """One verify with the checks (a cache hit when the cache can decide)."""
        if self.is_new or self.user_id is None:
            return False
        self.step_up_needed = None
        try:
            v = self._mw.client.verify(self._token, device=self.device,
                                       **{k: c for k, c in checks.items() if c is not None})
        except SessiondError as e:
            return self._refused(e)
        return self._verified(v)

    def _refused(self, e: SessiondError) -> bool:
        """False for a refused check (re-raises anything else)."""
        if e.code == "reauth_required":
            return False
        if e.code == "step_up_required":
            self.step_up_needed = e.step_up or {}
            return False
        if e.session_ended:
            self._clear()
            return False
        raise e

    def _verified(self, v: dict) -> bool:
        token = v.get("token") or self._token
        self._load(token, v["session"], v["csrf_token"], token != self._token)
        return True

    def destroy(self) -> None:
        """Logs out: the session ends in sessiond at once and the cookie is cleared."""
        if not self.is_new:
            self._mw.client.revoke_token(self._token)
        self._clear()

    def devices(self) -> list:
        """The logged-in user's sessions, oldest first, each with ``current``."""
        if self.user_id is None:
            return []
        return [dict(s, current=s["id"] == self.id) for s in self._mw.client.user_sessions(self.user_id)]

    def logout_other_devices(self) -> list:
        """Ends every other session of the logged-in user; returns the ids ended."""
        if self.user_id is None or self.id is None:
            return []
        return self._mw.client.revoke_user_sessions(self.user_id, except_id=self.id)


def _remote_addr(environ) -> Optional[str]:
    """REMOTE_ADDR when it is an IP address (a unix socket or a test client's
    "testclient" is no address: the session is then not bound to one)."""
    addr = environ.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return None


class SessionMiddleware:
    """Wraps a WSGI app. Only ``client`` is required. ``secure`` defaults to True
    (set False only for development over plain HTTP); SameSite defaults to Lax;
    ``client_ip(environ)`` returns the end user's IP (default REMOTE_ADDR:
    behind a proxy, return the forwarded address you trust)."""

    def __init__(self, app, client: Client, cookie_name: str = "sid", secure: bool = True,
                 samesite: str = "Lax", path: str = "/", domain: Optional[str] = None, csrf: bool = True,
                 idle_timeout: Optional[int] = None, absolute_timeout: Optional[int] = None,
                 client_ip: Callable = _remote_addr):
        if samesite not in ("Lax", "Strict", "None"):
            raise ValueError("samesite must be Lax, Strict or None")
        if samesite == "None" and not secure:
            raise ValueError("SameSite=None cookies must be Secure")
        if cookie_name.startswith("__Host-") and (not secure or path != "/" or domain):
            raise ValueError("a __Host- cookie must be Secure, with path / and no domain")
        self.app, self.client = app, client
        self.cookie_name, self.secure, self.samesite, self.path, self.domain = cookie_name, secure, samesite, path, domain
        self.csrf, self.idle_timeout, self.absolute_timeout, self.client_ip = csrf, idle_timeout, absolute_timeout, client_ip

    def __call__(self, environ, start_response):
        session = Session(self, environ)
        environ[ENVIRON_KEY] = session
        token = self._read_cookie(environ)
        if token is not None:
            csrf = None
            if self.csrf and environ.get("REQUEST_METHOD", "GET") not in _SAFE_METHODS:
                csrf = _csrf_from(environ)
            try:
                v = self.client.verify(token, csrf_token=csrf, device=session.device)
                new = v.get("token") or token
                session._load(new, v["session"], v["csrf_token"], new != token)
            except SessiondError as e:
                if not e.session_ended:
                    return self.error(e, start_response)
                session._clear()

        started = []

        def _start_response(status, headers, exc_info=None):
            started.append(True)
            headers = [h for h in headers if not (h[0].lower() == "set-cookie" and h[1].startswith(self.cookie_name + "="))]
            if session._cookie:
                headers.append(("Set-Cookie", session._cookie))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, _start_response)
        except SessiondError as e:
            if started:
                raise
            return self.error(e, start_response)

    def error(self, err: SessiondError, start_response):
        """Answers a failed sessiond call: 503 (Retry-After) when sessiond is down,
        500 when the API key is bad, 403 for CSRF; never clears the cookie."""
        status = browser_status(err)
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
        if status in (503, 429):
            headers.append(("Retry-After", str(err.retry_after or 5)))
        body = {503: b"Back in a moment.\n", 403: b"Forbidden.\n"}.get(status, b"Something went wrong.\n")
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    def _read_cookie(self, environ) -> Optional[str]:
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, eq, value = part.partition("=")
            if eq and name.strip() == self.cookie_name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                return urllib.parse.unquote(value)
        return None

    def _cookie_line(self, token: Optional[str], expires: Optional[datetime]) -> str:
        attrs = [f"{self.cookie_name}={'' if token is None else urllib.parse.quote(token, safe='')}", f"Path={self.path}"]
        if self.domain:
            attrs.append(f"Domain={self.domain}")
        if token is None:
            attrs += ["Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Max-Age=0"]
        elif expires is not None:
            attrs.append("Expires=" + format_datetime(expires.astimezone(timezone.utc), usegmt=True))
        attrs += ["HttpOnly", f"SameSite={self.samesite}"]
        if self.secure:
            attrs.append("Secure")
        return "; ".join(attrs)


def _csrf_from(environ) -> str:
    """The CSRF token from X-CSRF-Token, or the _csrf field of a url-encoded form
    (the body is put back for the app)."""
    header = environ.get("HTTP_X_CSRF_TOKEN")
    if header:
        return header
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        values = urllib.parse.parse_qs(body.decode("latin-1"), keep_blank_values=True).get("_csrf")
        if values:
            return values[0]
    return ""


def require_login(on_missing=None):
    """Decorates a WSGI app: lets only logged-in users through; others get
    on_missing (a WSGI app; default 401)."""
    def deny(environ, start_response):
        start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Please log in.\n"]

    def wrap(app):
        def guarded(environ, start_response):
            if get_session(environ).user_id is None:
                return (on_missing or deny)(environ, start_response)
            return app(environ, start_response)
        return guarded
    return wrap


def _guard(check, message: bytes, on_required=None):
    """Decorates a WSGI app: lets a request through only if check(session) is true."""
    def deny(environ, start_response):
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
        return [message]

    def wrap(app):
        def guarded(environ, start_response):
            if not check(get_session(environ)):
                return (on_required or deny)(environ, start_response)
            return app(environ, start_response)
        return guarded
    return wrap


def require_aal(level: int, on_required=None):
    """Decorates a WSGI app: lets a request through only if sessiond says the
    session has assurance level ``level`` (and the policy's min_aal); others get
    on_required (a WSGI app; default 403), which finds what to prove in
    ``get_session(environ).step_up_needed``."""
    return _guard(lambda s: s.assured(min_aal=level), b"Please verify another factor.\n", on_required)


def require_factor(method: str, max_age: int, on_required=None):
    """Decorates a WSGI app: lets a request through only if sessiond says the
    user proved ``method`` (``"otp"``) at most max_age seconds ago; others get
    on_required (a WSGI app; default 403)."""
    return _guard(lambda s: s.assured(max_factor_age={method: int(max_age)}),
                  b"Please verify your second factor again.\n", on_required)


def require_recent_auth(max_age: int, on_required=None):
    """Decorates a WSGI app: lets a request through only if the user
    authenticated at most max_age seconds ago (sessiond's max_auth_age);
    others get on_required (a WSGI app; default 403)."""
    def deny(environ, start_response):
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Please enter your password again.\n"]

    def wrap(app):
        def guarded(environ, start_response):
            if not get_session(environ).recently_authenticated(max_age):
                return (on_required or deny)(environ, start_response)
            return app(environ, start_response)
        return guarded
    return wrap
