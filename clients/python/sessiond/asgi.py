"""ASGI middleware (Starlette, FastAPI, any ASGI app): the request's session,
backed by sessiond through an AsyncClient. It behaves as the WSGI middleware
(sessiond.wsgi) does, code by code: one verify per request with a cookie (the
CSRF token of POST/PUT/PATCH/DELETE in the same call), the cookie cleared only
when the session is over, 503 when sessiond is down, 500 for a bad API key.

    from starlette.applications import Starlette
    from sessiond import AsyncClient
    from sessiond.asgi import SessionMiddleware, get_session

    app = Starlette(routes=[...])
    app.add_middleware(SessionMiddleware, client=AsyncClient(url, api_key))

    async def profile(request):
        s = get_session(request)          # an AsyncSession
        s.data["views"] = s.data.get("views", 0) + 1
        await s.save()

Add it with ``add_middleware`` (inside Starlette's error handler), so that a
SessiondError raised by an endpoint before it answers becomes 503/500 here.
"""

from __future__ import annotations

import urllib.parse
from typing import Optional

from . import wsgi
from .client import SessiondError, browser_status
from .wsgi import _SAFE_METHODS, _clone, merge_patch

__all__ = ["SessionMiddleware", "AsyncSession", "get_session"]

SCOPE_KEY = "sessiond.session"
MAX_FORM_BYTES = 1 << 20  # a url-encoded form read for its _csrf field


def get_session(request) -> "AsyncSession":
    """The request's session: pass a Starlette/FastAPI Request or an ASGI scope."""
    scope = getattr(request, "scope", request)
    return scope[SCOPE_KEY]


class AsyncSession(wsgi.Session):
    """The WSGI Session's API with its calls awaited: ``await s.save()``,
    ``await s.login(user_id)``, ``await s.destroy()``, ..."""

    async def save(self) -> None:
        client = self._mw.client
        if self.is_new:
            self._issued(await client.create_session(**self._create_body(self.data)))
            return
        patch = merge_patch(self._saved, self.data)
        if patch is None:
            return
        s = await client.patch_data(self.id, patch)
        self.info, self.data, self._saved = s, _clone(s.get("data")), _clone(s.get("data"))

    async def login(self, user_id: str, amr: Optional[list] = None, remember: bool = False) -> None:
        client = self._mw.client
        data = self.data
        if not self.is_new:
            pending = merge_patch(self._saved, self.data)
            try:
                self._issued(await client.regenerate(self._token, user_id=user_id, amr=amr, remember=remember))
                if pending is not None:
                    self.data = data
                    await self.save()
                return
            except SessiondError as e:
                if not e.session_ended:
                    raise
        self._issued(await client.create_session(user_id=user_id, amr=amr, remember=remember, **self._create_body(data)))

    async def regenerate(self, reauthenticated: bool = False, amr: Optional[list] = None) -> None:
        if self.is_new:
            await self.save()
            return
        self._issued(await self._mw.client.regenerate(self._token, reauthenticated=reauthenticated, amr=amr))

    async def reauthenticate(self, amr: Optional[list] = None) -> None:
        await self.regenerate(reauthenticated=True, amr=amr)

    async def step_up(self, amr: list) -> None:
        self._check_step_up(amr)
        await self.regenerate(reauthenticated=True, amr=amr)

    async def recently_authenticated(self, max_age: int) -> bool:
        return await self._checked(max_auth_age=int(max_age))

    async def assured(self, min_aal: Optional[int] = None, max_factor_age: Optional[dict] = None) -> bool:
        return await self._checked(min_aal=min_aal, max_factor_age=max_factor_age)

    async def _checked(self, **checks) -> bool:
        if self.is_new or self.user_id is None:
            return False
        self.step_up_needed = None
        try:
            v = await self._mw.client.verify(self._token, device=self.device,
                                             **{k: c for k, c in checks.items() if c is not None})
        except SessiondError as e:
            return self._refused(e)
        return self._verified(v)

    async def destroy(self) -> None:
        if not self.is_new:
            await self._mw.client.revoke_token(self._token)
        self._clear()

    async def devices(self) -> list:
        if self.user_id is None:
            return []
        return [dict(s, current=s["id"] == self.id) for s in await self._mw.client.user_sessions(self.user_id)]

    async def logout_other_devices(self) -> list:
        if self.user_id is None or self.id is None:
            return []
        return await self._mw.client.revoke_user_sessions(self.user_id, except_id=self.id)


def _environ(scope) -> dict:
    """A WSGI-like view of an ASGI scope (REMOTE_ADDR, HTTP_* headers), what
    client_ip(environ) and the shared cookie code read; "asgi.scope" is the scope."""
    env = {"REQUEST_METHOD": scope.get("method", "GET"), "asgi.scope": scope}
    client = scope.get("client")
    if client:
        env["REMOTE_ADDR"] = client[0]
    for name, value in scope.get("headers", ()):
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        v = value.decode("latin-1")
        env[key] = env[key] + ("; " if key == "HTTP_COOKIE" else ", ") + v if key in env else v
    env["CONTENT_TYPE"] = env.get("HTTP_CONTENT_TYPE", "")
    return env


class SessionMiddleware(wsgi.SessionMiddleware):
    """The ASGI twin of sessiond.SessionMiddleware: the same options (cookie,
    secure, samesite, csrf, timeouts, client_ip(environ) with a WSGI-like
    environ), ``client`` an AsyncClient. The session is ``get_session(request)``."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        environ = _environ(scope)
        session = AsyncSession(self, environ)
        scope[SCOPE_KEY] = session
        token = self._read_cookie(environ)
        if token is not None:
            csrf = None
            if self.csrf and environ["REQUEST_METHOD"] not in _SAFE_METHODS:
                csrf, receive = await _csrf_from(environ, receive)
            try:
                v = await self.client.verify(token, csrf_token=csrf, device=session.device)
                new = v.get("token") or token
                session._load(new, v["session"], v["csrf_token"], new != token)
            except SessiondError as e:
                if not e.session_ended:
                    return await self._error(e, send)
                session._clear()

        started = False
        prefix = (self.cookie_name + "=").encode("latin-1")

        async def send_with_cookie(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not (k.lower() == b"set-cookie" and v.startswith(prefix))]
                if session._cookie:
                    headers.append((b"set-cookie", session._cookie.encode("latin-1")))
                message = dict(message, headers=headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        except SessiondError as e:
            if started:
                raise
            await self._error(e, send)

    async def _error(self, err: SessiondError, send):
        status = browser_status(err)
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
        if status in (503, 429):
            headers.append((b"retry-after", str(err.retry_after or 5).encode()))
        body = {503: b"Back in a moment.\n", 403: b"Forbidden.\n"}.get(status, b"Something went wrong.\n")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _csrf_from(environ, receive):
    """The CSRF token from X-CSRF-Token, or the _csrf field of a url-encoded
    form; returns it with a receive that hands the app the body again."""
    header = environ.get("HTTP_X_CSRF_TOKEN")
    if header:
        return header, receive
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return "", receive
    read, size = [], 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return "", _replay(read, receive)
        size += len(message.get("body", b""))
        if size > MAX_FORM_BYTES:
            return "", _replay(read, receive)  # too big for a form: no token, the app gets it all
        if not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in read)
    values = urllib.parse.parse_qs(body.decode("latin-1"), keep_blank_values=True).get("_csrf")
    return (values[0] if values else ""), _replay(read, receive)


def _replay(messages: list, receive):
    """A receive that gives back the messages already read, then reads on."""
    pending = list(messages)

    async def replay():
        if pending:
            return pending.pop(0)
        return await receive()
    return replay
