"""The middleware in real frameworks against a real sessiond: Starlette and
FastAPI (sessiond.asgi on AsyncClient), Flask (the WSGI middleware), Django
(sessiond.django). One small
app per framework, the same behaviour checked on each: an anonymous session
on save, login with a new token, CSRF by form field and by header, logout,
a revoked session logged out, sessiond down answered 503 with the cookie kept.
Skipped, saying which package is missing, where a framework is not installed."""


import importlib.util
import unittest
import urllib.parse

from tests.harness import Sessiond

HAVE = {m: importlib.util.find_spec(m) is not None for m in ("httpx", "starlette", "fastapi", "flask", "django")}


def form_of(body: bytes) -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}


class Reply:
    def __init__(self, status, text, set_cookie):
        self.status, self.text, self.set_cookie = status, text, set_cookie


class Behaviour:
    """The checks, run on self.request(method, path, form=None, headers=None, cookie=None) -> Reply."""

    sd: Sessiond

    def browse(self, method, path, form=None, headers=None):
        h = dict(headers or {})
        if self.sid:
            h["Cookie"] = "sid=" + self.sid
        r = self.request(method, path, form, h)
        if r.set_cookie:
            self.sid = None if "Max-Age=0" in r.set_cookie else urllib.parse.unquote(r.set_cookie[4:r.set_cookie.index(";")])
        return r

    def test_a_whole_visit(self):
        self.sid = None
        r = self.browse("GET", "/")
        self.assertEqual((r.status, r.text), (200, "views=1 user=None"))
        self.assertRegex(r.set_cookie or "", r"^sid=[^;]+; Path=/; Expires=[^;]+; HttpOnly; SameSite=Lax$")
        anon = self.sid
        r = self.browse("GET", "/")
        self.assertEqual((r.text, r.set_cookie), ("views=2 user=None", None))
        csrf = self.browse("GET", "/csrf").text
        r = self.browse("POST", "/login", {"_csrf": csrf, "username": "alice"})
        self.assertEqual(r.status, 200, r.text)
        self.assertNotEqual(self.sid, anon, "a new token on login")
        self.assertEqual(self.sd.admin("POST", "/v1/sessions/verify", {"token": anon})["code"], "session_invalid")
        self.assertEqual(self.browse("GET", "/").text, "views=3 user=alice", "the data moved over")

        csrf = self.browse("GET", "/csrf").text
        for bad in ({"_csrf": "forged"}, {}, {"_csrf": ""}):
            r = self.browse("POST", "/name", {**bad, "name": "Mallory"})
            self.assertEqual(r.status, 403, bad)
            self.assertIsNone(r.set_cookie, "the cookie is kept")
        self.assertEqual(self.browse("POST", "/name", {"_csrf": csrf, "name": "Alice"}).text, "name=Alice")
        self.assertEqual(self.browse("POST", "/name", {"name": "Al"}, {"X-CSRF-Token": csrf}).text, "name=Al")
        self.assertEqual(self.sd.admin("POST", "/v1/sessions/verify", {"token": self.sid})["session"]["data"]["name"], "Al")

        token = self.sid
        r = self.browse("POST", "/logout", {"_csrf": csrf})
        self.assertIn("Max-Age=0", r.set_cookie or "")
        self.assertEqual(self.sd.admin("POST", "/v1/sessions/verify", {"token": token})["code"], "session_invalid")

    def test_a_revoked_session_is_logged_out_and_an_outage_keeps_the_cookie(self):
        self.sid = None
        csrf = self.browse("GET", "/csrf").text
        self.browse("POST", "/login", {"_csrf": csrf, "username": "bob"})
        s = self.sd.admin("POST", "/v1/sessions/verify", {"token": self.sid})["session"]
        self.sd.admin("DELETE", f"/v1/sessions/{s['id']}")
        r = self.browse("GET", "/")
        self.assertEqual((r.status, r.text), (200, "views=1 user=None"))
        csrf = self.browse("GET", "/csrf").text
        self.browse("POST", "/login", {"_csrf": csrf, "username": "bob"})
        token = self.sid
        self.sd.stop()
        try:
            r = self.browse("GET", "/")
            self.assertEqual(r.status, 503)
            self.assertIsNone(r.set_cookie, "nobody is logged out by an outage")
        finally:
            self.sd.start()
        self.assertEqual(self.browse("GET", "/").text, "views=2 user=bob")
        self.assertEqual(self.sid, token)


def starlette_app(url, key, fastapi=False):
    from sessiond import AsyncClient
    from sessiond.asgi import SessionMiddleware, get_session

    async def home(s):
        s.data["views"] = s.data.get("views", 0) + 1
        await s.save()
        return f"views={s.data['views']} user={s.user_id}"

    async def csrf(s):
        return s.csrf_token or ""

    async def login(s, form):
        await s.login(form["username"])
        return "ok"

    async def name(s, form):
        s.data["name"] = form["name"]
        await s.save()
        return "name=" + s.data["name"]

    async def logout(s):
        await s.destroy()
        return "bye"

    handlers = {("GET", "/"): home, ("GET", "/csrf"): csrf, ("POST", "/login"): login,
                ("POST", "/name"): name, ("POST", "/logout"): logout}
    client = AsyncClient(url, key, timeout=3)
    if fastapi:
        from fastapi import FastAPI, Request
        from fastapi.responses import PlainTextResponse

        app = FastAPI()

        def route(method, path, fn):
            async def endpoint(request: Request):
                args = [get_session(request)]
                if method == "POST" and fn not in (logout,):
                    args.append(form_of(await request.body()))
                return PlainTextResponse(await fn(*args))
            app.add_api_route(path, endpoint, methods=[method])
        for (m, p), fn in handlers.items():
            route(m, p, fn)
    else:
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        def route(method, path, fn):
            async def endpoint(request):
                args = [get_session(request)]
                if method == "POST" and fn is not logout:
                    args.append(form_of(await request.body()))
                return PlainTextResponse(await fn(*args))
            return Route(path, endpoint, methods=[method])
        app = Starlette(routes=[route(m, p, fn) for (m, p), fn in handlers.items()])
    app.add_middleware(SessionMiddleware, client=client, secure=False)
    return app


class _ASGI(Behaviour):
    fastapi = False

    @classmethod
    def setUpClass(cls):
        from starlette.testclient import TestClient
        cls.sd = Sessiond()
        key = cls.sd.new_api_key("asgi")["secret"]
        # One TestClient block: one event loop for the AsyncClient's connections.
        cls.tc = TestClient(starlette_app(cls.sd.url, key, cls.fastapi), raise_server_exceptions=True)
        cls.tc.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.tc.__exit__(None, None, None)
        cls.sd.close()

    def request(self, method, path, form, headers):
        self.tc.cookies.clear()
        r = self.tc.request(method, path, data=form, headers=headers)
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("sid=")]
        return Reply(r.status_code, r.text, cookies[0] if cookies else None)


@unittest.skipUnless(HAVE["httpx"] and HAVE["starlette"], "needs httpx and starlette (Debian: python3-starlette)")
class Starlette(_ASGI, unittest.TestCase):
    pass


@unittest.skipUnless(HAVE["httpx"] and HAVE["fastapi"], "needs httpx and fastapi (Debian: python3-fastapi)")
class FastAPI(_ASGI, unittest.TestCase):
    fastapi = True


@unittest.skipUnless(HAVE["flask"], "needs flask (Debian: python3-flask)")
class Flask(Behaviour, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import flask

        from sessiond import Client, SessionMiddleware, get_session
        cls.sd = Sessiond()
        app = flask.Flask(__name__)

        def session():
            return get_session(flask.request.environ)

        @app.get("/")
        def home():
            s = session()
            s.data["views"] = s.data.get("views", 0) + 1
            s.save()
            return f"views={s.data['views']} user={s.user_id}"

        @app.get("/csrf")
        def csrf():
            return session().csrf_token or ""

        @app.post("/login")
        def login():
            session().login(flask.request.form["username"])
            return "ok"

        @app.post("/name")
        def name():
            s = session()
            s.data["name"] = flask.request.form["name"]
            s.save()
            return "name=" + s.data["name"]

        @app.post("/logout")
        def logout():
            session().destroy()
            return "bye"

        app.wsgi_app = SessionMiddleware(app.wsgi_app, Client(cls.sd.url, cls.sd.new_api_key("flask")["secret"], timeout=3),
                                         secure=False)
        cls.tc = app.test_client(use_cookies=False)

    @classmethod
    def tearDownClass(cls):
        cls.sd.close()

    def request(self, method, path, form, headers):
        r = self.tc.open(path, method=method, data=form, headers=headers)
        cookies = [v for k, v in r.headers.items() if k.lower() == "set-cookie" and v.startswith("sid=")]
        return Reply(r.status_code, r.get_data(as_text=True), cookies[0] if cookies else None)


@unittest.skipUnless(HAVE["django"], "needs django (Debian: python3-django)")
class Django(Behaviour, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import django
        from django.conf import settings
        from django.http import HttpResponse
        from django.urls import path

        cls.sd = Sessiond()

        def home(request):
            s = request.sessiond
            s.data["views"] = s.data.get("views", 0) + 1
            s.save()
            return HttpResponse(f"views={s.data['views']} user={s.user_id}")

        def csrf(request):
            return HttpResponse(request.sessiond.csrf_token or "")

        def login(request):
            request.sessiond.login(request.POST["username"])
            return HttpResponse("ok")

        def name(request):
            s = request.sessiond
            s.data["name"] = request.POST["name"]
            s.save()
            return HttpResponse("name=" + s.data["name"])

        def logout(request):
            request.sessiond.destroy()
            return HttpResponse("bye")

        urls = type("urls", (), {"urlpatterns": [path("", home), path("csrf", csrf), path("login", login),
                                                 path("name", name), path("logout", logout)]})
        conf = {"URL": cls.sd.url, "API_KEY": cls.sd.new_api_key("django")["secret"], "SECURE": False, "TIMEOUT": 3}
        if settings.configured:
            settings.SESSIOND, settings.ROOT_URLCONF = conf, urls
        else:
            settings.configure(DEBUG=False, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=urls, SECRET_KEY="test " * 10,
                               MIDDLEWARE=["sessiond.django.SessiondMiddleware"], SESSIOND=conf)
            django.setup()
        from django.test import Client as DjangoClient
        cls.tc = DjangoClient()

    @classmethod
    def tearDownClass(cls):
        cls.sd.close()

    def request(self, method, path, form, headers):
        meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()}
        self.tc.cookies.clear()
        body = urllib.parse.urlencode(form or {})
        r = self.tc.generic(method, "/" + path.lstrip("/"), body, "application/x-www-form-urlencoded", **meta)
        cookie = r.headers.get("Set-Cookie")
        return Reply(r.status_code, r.content.decode(), cookie if cookie and cookie.startswith("sid=") else None)


if __name__ == "__main__":
    unittest.main()
