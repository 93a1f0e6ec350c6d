"""The shared scenario list (clients/SCENARIOS.md): the WSGI twin of the
example app (tests/app.py) on a real sessiond, driven by cookie-keeping
browsers over real HTTP."""

from __future__ import annotations

import html
import http.client
import re
import threading
import time
import unittest
import urllib.parse
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.app import make_app
from tests.harness import Sessiond, eventually

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class Swappable:
    """Lets a test replace the app (new API key, sessiond address) behind one URL."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class Reply:
    def __init__(self, status, body, headers, set_cookie):
        self.status, self.body, self.headers, self.set_cookie = status, body, headers, set_cookie


class Browser:
    """Keeps the sid cookie like a browser would."""

    def __init__(self, port, ua=FIREFOX):
        self.port, self.ua, self.sid = port, ua, None

    def request(self, method, path, form=None, headers=None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"User-Agent": self.ua, **(headers or {})}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if self.sid is not None:
            h["Cookie"] = "sid=" + self.sid
        conn.request(method, path, body=body, headers=h)
        res = conn.getresponse()
        text = res.read().decode()
        set_cookie = next((v for k, v in res.getheaders() if k.lower() == "set-cookie" and v.startswith("sid=")), None)
        if set_cookie:
            value = urllib.parse.unquote(set_cookie[4:set_cookie.index(";")])
            self.sid = None if "Max-Age=0" in set_cookie else value
        conn.close()
        return Reply(res.status, text, res, set_cookie)

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, form=None, headers=None):
        return self.request("POST", path, form if form is not None else {}, headers)

    def post_form(self, page, path, form=None):
        """Posts with the CSRF token of the page, as a user filling in its form."""
        return self.post(path, {"_csrf": csrf_of(self.get(page).body), **(form or {})})

    def login(self, user, password):
        return self.post_form("/login", "/login", {"username": user, "password": password})


def csrf_of(body: str) -> str:
    m = re.search(r'name="_csrf" value="([^"]*)"', body)
    assert m, f"no CSRF field in {body}"
    return html.unescape(m.group(1))


class Scenarios(unittest.TestCase):
    """Each test is one scenario; they run in order (unittest sorts by name) on one server."""

    cache = False

    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.app_key = cls.sd.new_api_key("python example app")
        cls.swap = Swappable(make_app(cls.sd.url, cls.app_key["secret"], cache=cls.cache))
        if cls.cache:
            cls.first_cache = cls.swap.app.client.cache
            cls.first_cache.wait_ready(15)
        cls.web: WSGIServer = make_server("127.0.0.1", 0, cls.swap, handler_class=Quiet)
        cls.port = cls.web.server_port
        threading.Thread(target=cls.web.serve_forever, daemon=True).start()
        cls.a = Browser(cls.port)
        cls.bob = Browser(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.web.shutdown()
        cls.web.server_close()
        cls.sd.close()

    def verify(self, token):
        return self.sd.admin("POST", "/v1/sessions/verify", {"token": token or ""})

    def test_01_anonymous(self):
        """saving data starts a session with a hardened cookie; junk cookies are just 'no session'"""
        a = self.a
        r = a.get("/")
        self.assertEqual(r.status, 200)
        self.assertRegex(r.body, r'Hello visitor, view <b id="views">1<')
        self.assertRegex(r.set_cookie, r"^sid=[^;]+; Path=/; Expires=[^;]+ GMT; HttpOnly; SameSite=Lax$")
        r = a.get("/")
        self.assertRegex(r.body, r'view <b id="views">2<')
        self.assertIsNone(r.set_cookie, "the cookie is not re-sent when nothing changed")
        for junk in ["", "junk", "v1.k_aaaaaaaaaaaaaaaa.ab.x.y", "x" * 600]:
            j = Browser(self.port)
            j.sid = junk
            r = j.get("/")
            self.assertEqual(r.status, 200, f"cookie {junk[:20]!r}: {r.body}")
            self.assertRegex(r.body, r'view <b id="views">1<')
            self.assertTrue(j.sid and j.sid != junk, "a fresh session replaced the junk cookie")

    def test_02_login(self):
        """a wrong password changes nothing; a right one issues a new cookie and kills the old one"""
        a = self.a
        before = a.sid
        self.assertEqual(a.login("alice", "wrong").status, 401)
        self.assertEqual(a.sid, before)
        r = a.login("alice", "correct-horse")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.headers.getheader("Location"), "/profile")
        self.assertTrue(a.sid and a.sid != before, "new token on login (no session fixation)")
        self.assertEqual(self.verify(before)["code"], "session_invalid")
        v = self.verify(a.sid)
        self.assertEqual(v["session"]["user_id"], "alice")
        self.assertTrue(v["session"].get("auth_time"), "login sets auth_time")
        self.assertRegex(a.get("/").body, r'Hello alice, view <b id="views">3<', "data moved over")
        planted = Browser(self.port)
        planted.sid = before
        r = planted.get("/profile")
        self.assertEqual(r.status, 303)
        self.assertIn("Max-Age=0", r.set_cookie or "")

    def test_03_profile(self):
        """the logged-in user sees it; a visitor is sent to the login page"""
        r = self.a.get("/profile")
        self.assertEqual(r.status, 200)
        self.assertIn("Profile of alice", r.body)
        r = Browser(self.port).get("/profile")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.headers.getheader("Location"), "/login")

    def test_04_csrf(self):
        """the right token saves the form (a merge patch); a wrong or missing one is 403 and changes nothing"""
        a = self.a
        token = csrf_of(a.get("/profile").body)
        self.assertEqual(a.post("/profile", {"_csrf": token, "name": "Alice <Liddell>"}).status, 303)
        self.assertIn('<p id="name">Alice &lt;Liddell&gt;</p>', a.get("/profile").body)
        for bad in [{"_csrf": "forged"}, {}, {"_csrf": ""}]:
            r = a.post("/profile", {**bad, "name": "Mallory"})
            self.assertEqual(r.status, 403, bad)
            self.assertIsNone(r.set_cookie, "the cookie is kept")
        self.assertEqual(a.post("/profile", {"name": "Alice"}, {"X-CSRF-Token": token}).status, 303)
        self.assertIn('<p id="name">Alice</p>', a.get("/profile").body)
        self.assertEqual(self.verify(a.sid)["session"]["data"]["name"], "Alice")

    def test_05_reauth(self):
        """a sensitive action needs a recent password; re-entering it issues a new cookie"""
        a = self.a
        time.sleep(1.2)  # the app's reauth max age is 1 s here
        r = a.post_form("/profile", "/email", {"email": "alice@example.com"})
        self.assertEqual(r.status, 403)
        self.assertIn("Confirm your password", r.body)
        before = a.sid
        self.assertEqual(a.post("/reauth", {"_csrf": csrf_of(r.body), "username": "alice", "password": "x"}).status, 401)
        self.assertEqual(a.post_form("/profile", "/reauth", {"username": "alice", "password": "correct-horse"}).status, 303)
        self.assertNotEqual(a.sid, before, "regenerated on re-auth")
        self.assertEqual(a.post_form("/profile", "/email", {"email": "alice@example.com"}).status, 303)
        self.assertIn('<p id="email">alice@example.com</p>', a.get("/profile").body)

    def test_06_key_rotation(self):
        """the next request re-sets the cookie with the re-signed token"""
        a = self.a
        old = a.sid
        keys = self.sd.admin("GET", "/v1/keys")["keys"]
        self.assertEqual(self.sd.admin("POST", "/v1/keys/rotate", {})["state"], "active")
        if self.cache:
            # The rotation reaches the cache over the change stream, within its
            # bound (README "Clients"), not before the rotate call returns: the
            # frame empties the cache, so the next request goes to sessiond.
            cache = self.swap.app.client.cache
            deadline = time.monotonic() + 2
            while len(cache) > 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            self.assertEqual(len(cache), 0, "the rotation reached the cache")
        r = a.get("/profile")
        self.assertEqual(r.status, 200)
        self.assertRegex(r.set_cookie or "", r"^sid=[^;]+; Path=/; Expires=[^;]+; HttpOnly; SameSite=Lax$")
        self.assertNotEqual(a.sid, old)
        self.assertIsNone(a.get("/profile").set_cookie, "once")
        self.assertEqual(self.sd.admin("POST", f"/v1/keys/{keys[0]['kid']}/retire")["state"], "retired")
        self.assertEqual(self.verify(old)["code"], "session_invalid")
        self.assertIn("Profile of alice", a.get("/profile").body, "the re-set cookie works")

    def test_07_devices(self):
        """each of three devices sees three; 'log out other devices' ends exactly the two others"""
        devices = [Browser(self.port, f"{ua} browser") for ua in ("laptop", "phone", "tablet")]
        for d in devices:
            self.assertEqual(d.login("carol", "staple-horse").status, 303)
        laptop, phone, tablet = devices
        body = tablet.get("/profile").body
        self.assertEqual(body.count('<li class="device'), 3)
        self.assertEqual(body.count('class="device current"'), 1)
        r = tablet.post_form("/profile", "/logout-others")
        self.assertEqual(r.status, 200)
        self.assertIn('<p id="ended">2</p>', r.body)
        for d in (laptop, phone):
            self.assertEqual(d.get("/profile").status, 303, d.ua)
            self.assertIsNone(d.sid, "cookie cleared")
        self.assertEqual(tablet.get("/profile").body.count('<li class="device'), 1)

    def test_08_logout(self):
        """the session ends in sessiond and the cookie is cleared"""
        a = self.a
        token = a.sid
        r = a.post_form("/profile", "/logout")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.set_cookie, "sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax")
        self.assertEqual(self.verify(token)["code"], "session_invalid")
        self.assertEqual(a.get("/profile").status, 303)
        self.assertEqual(a.post("/logout").status, 303, "logging out again is fine")

    def test_09_revoked_api_key(self):
        """the app answers 500 and keeps the cookie; users stay logged in"""
        bob = self.bob
        self.assertEqual(bob.login("bob", "battery-staple").status, 303)
        token = bob.sid
        self.sd.admin("DELETE", f"/v1/api-keys/{self.app_key['id']}")

        def five_hundred():
            r = bob.get("/profile")
            assert r.status == 500, r.status
            return r
        r = eventually(five_hundred)
        self.assertIsNone(r.set_cookie, "the cookie is never cleared for an API-key problem")
        self.assertEqual(bob.post("/login", {"_csrf": "x", "username": "bob", "password": "battery-staple"}).status, 500)
        self.assertEqual(bob.sid, token)
        self.assertEqual(self.verify(token)["session"]["user_id"], "bob", "bob is still logged in")

    def test_10_sessiond_down(self):
        """503 with Retry-After, nobody logged out; back up, the same cookie works"""
        bob = self.bob
        key2 = self.sd.new_api_key("python example app, second key")
        self.swap.app = make_app(self.sd.url, key2["secret"], cache=self.cache)
        if self.cache:
            self.swap.app.client.cache.wait_ready(15)
        self.assertEqual(bob.get("/profile").status, 200, "the new key works with the same cookie")
        token = bob.sid
        self.sd.stop()
        try:
            r = bob.get("/profile")
            self.assertEqual(r.status, 503)
            self.assertTrue(r.headers.getheader("Retry-After"))
            self.assertIsNone(r.set_cookie, "the cookie is kept")
            self.assertEqual(Browser(self.port).get("/").status, 503, "a new visitor cannot get a session either")
            self.assertEqual(bob.sid, token)
        finally:
            self.sd.start()
        r = bob.get("/profile")
        self.assertEqual(r.status, 200)
        self.assertIn("Profile of bob", r.body)
        self.assertEqual(bob.sid, token)
        self.assertNotIn(token, self.sd.logs(), "no token in sessiond's logs")


class ScenariosWithCache(Scenarios):
    """The same scenarios with the app's local cache on: every rule holds on a hit."""

    cache = True

    def test_11_the_cache_was_used(self):
        self.assertGreater(self.first_cache.stats["hits"], 10, self.first_cache.stats)


if __name__ == "__main__":
    unittest.main()
