"""Django middleware: ``request.sessiond`` backed by sessiond (the WSGI
middleware's Session and rules, in Django's request cycle).

    # settings.py
    MIDDLEWARE = [..., "sessiond.django.SessiondMiddleware", ...]
    SESSIOND = {"URL": os.environ["SESSIOND_URL"], "API_KEY": os.environ["SESSIOND_API_KEY"]}
    # optional: "COOKIE_NAME", "SECURE", "SAMESITE", "PATH", "DOMAIN", "CSRF",
    # "IDLE_TIMEOUT", "ABSOLUTE_TIMEOUT", "TIMEOUT", "CACHE", "CLIENT_IP" (a callable of request.META)

    def login_view(request):
        ...check the password...
        request.sessiond.login(user.username)

It sits beside Django's own sessions and CSRF middleware, not instead of
them: sessiond's CSRF token (``request.sessiond.csrf_token``) is checked on
POST/PUT/PATCH/DELETE from the ``X-CSRF-Token`` header or the ``_csrf`` form
field, as in the other middlewares. sessiond unreachable → 503 with
Retry-After, a bad API key → 500, the cookie kept in both.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from .client import Client, SessiondError, browser_status
from .wsgi import _SAFE_METHODS, Session, SessionMiddleware, _remote_addr

__all__ = ["SessiondMiddleware"]


class SessiondMiddleware:
    """New-style Django middleware; configured by the SESSIOND setting."""

    def __init__(self, get_response):
        self.get_response = get_response
        conf = dict(getattr(settings, "SESSIOND", {}))
        client = Client(conf["URL"], conf["API_KEY"], timeout=conf.get("TIMEOUT", 5.0), cache=conf.get("CACHE"))
        # The WSGI middleware holds the options and writes the cookie; it wraps no app here.
        self.mw = SessionMiddleware(
            None, client, cookie_name=conf.get("COOKIE_NAME", "sid"), secure=conf.get("SECURE", True),
            samesite=conf.get("SAMESITE", "Lax"), path=conf.get("PATH", "/"), domain=conf.get("DOMAIN"),
            csrf=conf.get("CSRF", True), idle_timeout=conf.get("IDLE_TIMEOUT"),
            absolute_timeout=conf.get("ABSOLUTE_TIMEOUT"), client_ip=conf.get("CLIENT_IP", _remote_addr))

    def __call__(self, request):
        mw = self.mw
        session = Session(mw, request.META)
        request.sessiond = session
        token = request.COOKIES.get(mw.cookie_name)
        if token is not None:
            csrf = None
            if mw.csrf and request.method not in _SAFE_METHODS:
                csrf = request.headers.get("X-CSRF-Token") or request.POST.get("_csrf", "")
            try:
                v = mw.client.verify(token, csrf_token=csrf, device=session.device)
                new = v.get("token") or token
                session._load(new, v["session"], v["csrf_token"], new != token)
            except SessiondError as e:
                if not e.session_ended:
                    return self.error(e)
                session._clear()
        try:
            response = self.get_response(request)
        except SessiondError as e:
            return self.error(e)
        if session._cookie:
            response.headers["Set-Cookie"] = session._cookie
        return response

    def process_exception(self, request, exception):
        """A SessiondError raised by a view (login, save...) becomes 503/500/403."""
        if isinstance(exception, SessiondError):
            return self.error(exception)
        return None

    @staticmethod
    def error(err: SessiondError) -> HttpResponse:
        status = browser_status(err)
        body = {503: "Back in a moment.\n", 403: "Forbidden.\n"}.get(status, "Something went wrong.\n")
        response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-store"
        if status in (503, 429):
            response["Retry-After"] = str(err.retry_after or 5)
        return response
