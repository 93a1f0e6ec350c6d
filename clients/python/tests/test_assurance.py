"""Session assurance against a real sessiond: factors (amr) and the assurance
level on sessions, step-up on verify (min_aal, max_factor_age, the policy's
min_aal → step_up_required with its step_up member), step-up by regenerate,
the request session's amr/aal/step_up/assured, the WSGI guards require_aal
and require_factor, and the local cache applying all of it on a hit.

sessiond has no clock to move, and these tests do not sleep: a stale factor
is one proved over 0 s ago (max age 0; the test waits out 2 ms of the wall
clock, never a real timeout), and the cache's own check of a 300 s age runs
on a Cache whose clock is 301 s ahead."""

from __future__ import annotations

import importlib.util
import io
import json
import time
import unittest
import urllib.parse

from sessiond import (AMR_METHODS, Client, SessiondError, SessionMiddleware, aal_of, browser_status, get_session,
                      require_aal, require_factor)
from sessiond.cache import Cache
from sessiond.client import parse_time
from tests.harness import Sessiond

HAVE_HTTPX = importlib.util.find_spec("httpx") is not None


def methods(session: dict) -> list:
    return sorted(f["method"] for f in session["amr"])


def after_factor(session: dict, method: str) -> None:
    """Returns once the wall clock is 2 ms past when method was proved, so that a
    max age of 0 s makes it stale (sessiond compares milliseconds)."""
    at = parse_time(next(f["at"] for f in session["amr"] if f["method"] == method)).timestamp()
    while time.time() < at + 0.002:
        pass


def wsgi_call(app, method="GET", path="/", cookie=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0",
               "REMOTE_ADDR": "127.0.0.1"}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    out = {}

    def start_response(status, headers, exc_info=None):
        out["status"], out["headers"] = int(status.split()[0]), headers
    out["body"] = b"".join(app(environ, start_response))
    out["cookie"] = next((v.split(";")[0] for k, v in out["headers"] if k == "Set-Cookie"), None)
    return out


class ClientAssurance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.key = cls.sd.new_api_key("python assurance test")["secret"]
        cls.c = Client(cls.sd.url, cls.key)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.sd.close()

    def refused(self, fn, *args, **kwargs) -> SessiondError:
        with self.assertRaises(SessiondError) as cm:
            fn(*args, **kwargs)
        return cm.exception

    def test_aal_of_matches_sessiond(self):
        self.assertEqual(aal_of([]), 1)
        self.assertEqual(aal_of(["pwd", "pin"]), 1)
        self.assertEqual(aal_of(["pwd", "otp"]), 2)
        self.assertEqual(aal_of([{"method": "fpt"}, {"method": "hwk"}]), 2)
        for m in AMR_METHODS:
            s = self.c.create_session(user_id="kinds", amr=["pwd", m])["session"]
            self.assertEqual(s["aal"], aal_of(["pwd", m]), m)

    def test_a_pwd_session_is_stepped_up_with_otp(self):
        s = self.c.create_session(user_id="alice", amr=["pwd"])
        self.assertEqual(methods(s["session"]), ["pwd"])
        self.assertEqual(s["session"]["aal"], 1)
        self.assertIsNotNone(parse_time(s["session"]["amr"][0]["at"]))
        self.assertEqual(self.c.verify(s["token"], min_aal=1)["session"]["aal"], 1)

        e = self.refused(self.c.verify, s["token"], min_aal=2)
        self.assertEqual((e.code, e.http_status), ("step_up_required", 403))
        self.assertEqual(e.step_up, {"aal": 2, "have_aal": 1, "factors": []})
        self.assertFalse(e.session_ended, "a step-up is not a logout")
        self.assertEqual(browser_status(e), 403)

        up = self.c.regenerate(s["token"], reauthenticated=True, amr=["otp"])
        self.assertEqual(up["session"]["aal"], 2)
        self.assertEqual(methods(up["session"]), ["otp", "pwd"])
        self.assertTrue(self.refused(self.c.verify, s["token"]).session_ended, "the old token died")
        v = self.c.verify(up["token"], min_aal=2, max_factor_age={"otp": 300})
        self.assertEqual((v["session"]["aal"], methods(v["session"])), (2, ["otp", "pwd"]))

        e = self.refused(self.c.verify, up["token"], max_factor_age={"otp": 300, "hwk": 300})
        self.assertEqual(e.step_up, {"aal": 1, "have_aal": 2, "factors": ["hwk"]})

    def test_a_stale_factor_needs_a_step_up(self):
        s = self.c.create_session(user_id="bob", amr=["pwd", "otp"])
        after_factor(s["session"], "otp")
        e = self.refused(self.c.verify, s["token"], max_factor_age={"otp": 0})
        self.assertEqual(e.code, "step_up_required")
        self.assertEqual(e.step_up["factors"], ["otp"])
        again = self.c.regenerate(s["token"], reauthenticated=True, amr="otp")
        old = {f["method"]: f["at"] for f in s["session"]["amr"]}
        new = {f["method"]: f["at"] for f in again["session"]["amr"]}
        self.assertEqual(new["pwd"], old["pwd"], "a factor not proved again keeps its time")
        self.assertGreater(parse_time(new["otp"]), parse_time(old["otp"]), "otp got the new time")
        self.c.verify(again["token"], max_factor_age={"otp": 60})

    def test_a_login_regenerate_names_the_only_factors(self):
        s = self.c.create_session(user_id="carol", amr=["pwd", "otp"])
        other = self.c.regenerate(s["token"], user_id="dave", amr=["fpt"])
        self.assertEqual((methods(other["session"]), other["session"]["aal"]), (["fpt"], 1))
        anon = self.c.create_session()
        self.assertEqual((anon["session"]["amr"], anon["session"]["aal"]), ([], 1))

    def test_invalid_inputs_are_sessiond_s_invalid_request(self):
        s = self.c.create_session(user_id="erin", amr=["pwd"])
        self.assertEqual(self.refused(self.c.verify, s["token"], min_aal=3).code, "invalid_request")
        self.assertEqual(self.refused(self.c.verify, s["token"], max_factor_age={"nope": 3}).code, "invalid_request")
        self.assertEqual(self.refused(self.c.create_session, user_id="x", amr=["nope"]).code, "invalid_request")

    @unittest.skipUnless(HAVE_HTTPX, "needs httpx (Debian: python3-httpx)")
    def test_async_client(self):
        import asyncio

        from sessiond import AsyncClient

        async def run():
            async with AsyncClient(self.sd.url, self.key) as ac:
                s = await ac.create_session(user_id="async", amr=["pwd"])
                with self.assertRaises(SessiondError) as cm:
                    await ac.verify(s["token"], min_aal=2)
                self.assertEqual(cm.exception.step_up["have_aal"], 1)
                up = await ac.regenerate(s["token"], reauthenticated=True, amr=["otp"])
                v = await ac.verify(up["token"], min_aal=2, max_factor_age={"otp": 300})
                self.assertEqual((v["session"]["aal"], methods(v["session"])), (2, ["otp", "pwd"]))
        asyncio.run(run())


def make_app(client: Client):
    """Routes: /login (amr pwd), /step-up (otp), /admin (aal 2), /transfer (otp
    within 300 s), /fresh (otp within 0 s), /who."""
    def text(start_response, status, body):
        start_response(status, [("Content-Type", "text/plain")])
        return [body.encode()]

    def prove_more(environ, start_response):
        need = get_session(environ).step_up_needed
        return text(start_response, "403 Forbidden", json.dumps(need, sort_keys=True))

    def login(environ, start_response):
        get_session(environ).login("alice", amr=["pwd"])
        return text(start_response, "200 OK", "in")

    def step_up(environ, start_response):
        get_session(environ).step_up(["otp"])
        return text(start_response, "200 OK", "up")

    def who(environ, start_response):
        s = get_session(environ)
        return text(start_response, "200 OK", json.dumps({"aal": s.aal, "amr": sorted(f["method"] for f in s.amr)}))

    routes = {
        "/login": login, "/step-up": step_up, "/who": who,
        "/admin": require_aal(2, on_required=prove_more)(who),
        "/admin-default": require_aal(2)(who),
        "/transfer": require_factor("otp", 300, on_required=prove_more)(who),
        "/fresh": require_factor("otp", 0, on_required=prove_more)(who),
    }

    def app(environ, start_response):
        return routes[environ["PATH_INFO"]](environ, start_response)
    return SessionMiddleware(app, client, secure=False, csrf=False)


class GuardsAssurance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.key = cls.sd.new_api_key("python guards test")["secret"]
        cls.client = Client(cls.sd.url, cls.key)
        cls.app = make_app(cls.client)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.sd.close()

    def test_require_aal_and_step_up(self):
        app = self.app
        self.assertEqual(wsgi_call(app, path="/admin")["status"], 403, "no session")
        cookie = wsgi_call(app, "POST", "/login")["cookie"]
        self.assertEqual(json.loads(wsgi_call(app, path="/who", cookie=cookie)["body"]), {"aal": 1, "amr": ["pwd"]})
        r = wsgi_call(app, path="/admin", cookie=cookie)
        self.assertEqual((r["status"], json.loads(r["body"])), (403, {"aal": 2, "have_aal": 1, "factors": []}))
        self.assertIsNone(r["cookie"], "a refused step-up keeps the cookie")
        self.assertEqual(wsgi_call(app, path="/admin-default", cookie=cookie)["status"], 403)
        r = wsgi_call(app, path="/transfer", cookie=cookie)
        self.assertEqual((r["status"], json.loads(r["body"])["factors"]), (403, ["otp"]), "no otp at all")

        r = wsgi_call(app, "POST", "/step-up", cookie=cookie)
        self.assertEqual(r["status"], 200)
        self.assertNotEqual(r["cookie"], cookie, "a step-up issues a new token")
        cookie = r["cookie"]
        r = wsgi_call(app, path="/admin", cookie=cookie)
        self.assertEqual((r["status"], json.loads(r["body"])), (200, {"aal": 2, "amr": ["otp", "pwd"]}))
        self.assertEqual(wsgi_call(app, path="/transfer", cookie=cookie)["status"], 200)

    def test_require_factor_refuses_a_stale_otp(self):
        cookie = wsgi_call(self.app, "POST", "/login")["cookie"]
        cookie = wsgi_call(self.app, "POST", "/step-up", cookie=cookie)["cookie"]
        token = cookie.split("=", 1)[1]
        session = self.client.verify(urllib.parse.unquote(token))["session"]
        after_factor(session, "otp")
        r = wsgi_call(self.app, path="/fresh", cookie=cookie)
        self.assertEqual((r["status"], json.loads(r["body"])), (403, {"aal": 1, "have_aal": 2, "factors": ["otp"]}))
        self.assertEqual(wsgi_call(self.app, path="/transfer", cookie=cookie)["status"], 200, "within 300 s")

    def test_step_up_needs_a_login(self):
        from sessiond.wsgi import Session
        s = Session(self.app, {"REMOTE_ADDR": "127.0.0.1"})
        with self.assertRaises(ValueError):
            s.step_up(["otp"])
        self.assertFalse(s.assured(min_aal=1))
        self.assertIsNone(s.aal)


class CacheAssurance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.key = cls.sd.new_api_key("python cache assurance test")["secret"]
        cls.c = Client(cls.sd.url, cls.key, cache=True)
        cls.c.cache.wait_ready(15)
        cls.other = Client(cls.sd.url, cls.sd.admin_key)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.other.close()
        cls.sd.close()

    def hits(self):
        return self.c.cache.stats["hits"]

    def cached(self, user, amr):
        s = self.other.create_session(user_id=user, amr=amr)
        self.c.verify(s["token"])
        hits = self.hits()
        self.c.verify(s["token"])
        self.assertEqual(self.hits(), hits + 1, "cached")
        return s

    def test_per_call_min_aal_and_max_factor_age_on_a_hit(self):
        s = self.cached("pc", ["pwd"])
        hits = self.hits()
        with self.assertRaises(SessiondError) as cm:
            self.c.verify(s["token"], min_aal=2)
        self.assertEqual(cm.exception.step_up, {"aal": 2, "have_aal": 1, "factors": []})
        with self.assertRaises(SessiondError) as cm:
            self.c.verify(s["token"], max_factor_age={"otp": 300})
        self.assertEqual(cm.exception.step_up["factors"], ["otp"])
        self.assertEqual(self.hits(), hits, "a session short of a step-up is never a hit")
        self.c.verify(s["token"], min_aal=1, max_factor_age={"pwd": 300})
        self.assertEqual(self.hits(), hits + 1, "one that meets it is")

        two = self.cached("pc2", ["pwd", "otp"])
        hits = self.hits()
        self.c.verify(two["token"], min_aal=2, max_factor_age={"otp": 300})
        self.assertEqual(self.hits(), hits + 1, "aal 2 with a fresh otp is a hit")

    def test_a_stale_factor_is_checked_on_the_cache_s_clock(self):
        ahead = Cache(clock=lambda: time.time() + 301)
        c = Client(self.sd.url, self.key, cache=ahead)
        try:
            ahead.wait_ready(15)
            s = self.other.create_session(user_id="clock", amr=["pwd", "otp"])
            c.verify(s["token"])
            hits = ahead.stats["hits"]
            c.verify(s["token"], max_factor_age={"otp": 600})
            self.assertEqual(ahead.stats["hits"], hits + 1, "proved 301 s ago (on the cache's clock): within 600 s")
            misses = ahead.stats["misses"]
            v = c.verify(s["token"], max_factor_age={"otp": 300})
            self.assertEqual((ahead.stats["hits"], ahead.stats["misses"]), (hits + 1, misses + 1),
                             "older than 300 s on the cache's clock: sessiond decides (and its clock says fresh)")
            self.assertEqual(v["session"]["aal"], 2)
        finally:
            c.close()

    def test_the_policy_min_aal_on_a_hit(self):
        cache = self.c.cache
        policy = self.sd.admin("GET", "/v1/policy")
        self.assertEqual(policy["min_aal"], 1)
        one = self.cached("pol1", ["pwd"])
        two = self.cached("pol2", ["pwd", "hwk"])
        try:
            self.sd.admin("PUT", "/v1/policy", dict(policy, min_aal=2))
            deadline = time.time() + 5
            while cache._policy.get("min_aal") != 2 and time.time() < deadline:
                time.sleep(0.01)
            self.assertEqual(cache._policy.get("min_aal"), 2, "the policy came with the tenant frame")
            self.c.verify(two["token"])  # cached again (the policy change dropped the cache)
            hits = self.hits()
            with self.assertRaises(SessiondError) as cm:
                self.c.verify(one["token"])
            self.assertEqual(cm.exception.code, "step_up_required")
            self.assertEqual(cm.exception.step_up, {"aal": 2, "have_aal": 1, "factors": []})
            self.assertEqual(self.hits(), hits, "an aal-1 session goes to sessiond")
            self.c.verify(two["token"])
            self.assertEqual(self.hits(), hits + 1, "an aal-2 session is a hit")
        finally:
            self.sd.admin("PUT", "/v1/policy", policy)
        deadline = time.time() + 5
        while cache._policy.get("min_aal") != 1 and time.time() < deadline:
            time.sleep(0.01)
        self.c.verify(one["token"])

    def test_a_policy_frame_without_the_policy_reconnects(self):
        cache = Cache()
        cache._policy = {"min_aal": 1}
        with self.assertRaises(ConnectionError):
            cache._frame("tenant", json.dumps({"reason": "policy", "policy": None}), "7-0")
        self.assertEqual(cache._last_id, "7-0", "resumes after the frame")
        cache._frame("tenant", json.dumps({"reason": "key_rotated", "policy": None}), "8-0")
        cache._frame("ready", json.dumps({"policy": {"min_aal": 2}, "heartbeat_ms": 1000}), None)
        self.assertEqual(cache._policy, {"min_aal": 2})


if __name__ == "__main__":
    unittest.main()
