"""Session profiles against a real sessiond: a remember-me login through the
WSGI middleware (profile remember_me, a cookie lasting until expires_at), an
impersonated session created through the client (its actor, in the request
session too), revoke_impersonations ending it but not the user's own
session, and the local cache dropping it (from the change stream when
another client ended it; at once when this one did)."""

from __future__ import annotations

import io
import json
import time
import unittest
import urllib.parse
from datetime import timezone
from email.utils import parsedate_to_datetime

from sessiond import Client, SessiondError, SessionMiddleware, get_session
from sessiond.client import parse_time
from tests.harness import Sessiond

DEVICE = {"user_agent": "python-profiles", "ip": "127.0.0.1"}


def app_of(client):
    def app(environ, start_response):
        s = get_session(environ)
        if environ["REQUEST_METHOD"] == "POST":
            form = urllib.parse.parse_qs(environ["QUERY_STRING"])
            s.login(form["user"][0], amr=["pwd"], remember=form.get("remember") == ["1"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"user": s.user_id, "profile": s.profile, "actor": s.actor}).encode()]
    return SessionMiddleware(app, client, secure=False, csrf=False)


def call(app, method="GET", query="", token=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/", "QUERY_STRING": query, "wsgi.input": io.BytesIO(b""),
               "CONTENT_LENGTH": "0", "REMOTE_ADDR": DEVICE["ip"], "HTTP_USER_AGENT": DEVICE["user_agent"]}
    if token:
        environ["HTTP_COOKIE"] = "sid=" + urllib.parse.quote(token, safe="")
    out = {}

    def start_response(status, headers, exc_info=None):
        out["status"], out["headers"] = int(status.split()[0]), headers
    body = b"".join(app(environ, start_response))
    out["body"] = json.loads(body) if out["status"] == 200 else body
    out["cookie"] = next((v for k, v in out["headers"] if k == "Set-Cookie"), None)
    return out


def token_of(cookie: str) -> str:
    return urllib.parse.unquote(cookie.split(";")[0].split("=", 1)[1])


class Profiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.key = cls.sd.new_api_key("python profiles test", scopes=("sessions", "admin"))["secret"]
        cls.plain = Client(cls.sd.url, cls.key)

    @classmethod
    def tearDownClass(cls):
        cls.plain.close()
        cls.sd.close()

    def test_remember_me_login(self):
        app = app_of(self.plain)
        with self.assertRaises(SessiondError) as cm:
            self.plain.create_session(user_id="alice", remember=True)
        self.assertEqual((cm.exception.code, cm.exception.http_status), ("invalid_request", 400))
        pol = self.sd.admin("GET", "/v1/policy")
        pol["remember_me"] = {"idle_timeout": 86400, "absolute_timeout": 30 * 86400}
        self.assertEqual(self.sd.admin("PUT", "/v1/policy", pol).get("remember_me"), pol["remember_me"])

        self.assertEqual(call(app, "POST", "user=alice")["body"]["profile"], "standard")
        for start in ("create", "regenerate"):
            token = self.plain.create_session(device=DEVICE)["token"] if start == "regenerate" else None
            r = call(app, "POST", "user=alice&remember=1", token)
            self.assertEqual(r["body"], {"user": "alice", "profile": "remember_me", "actor": None}, start)
            self.assertIn("Expires=", r["cookie"], start)
            expires = parsedate_to_datetime(r["cookie"].split("Expires=")[1].split(";")[0])
            v = self.plain.verify(token_of(r["cookie"]))["session"]
            self.assertEqual(v["profile"], "remember_me")
            at = parse_time(v["expires_at"])
            self.assertLessEqual(abs((expires - at).total_seconds()), 1, start)
            self.assertGreater(at.timestamp() - time.time(), 29 * 86400, start)
            self.assertEqual(call(app, token=token_of(r["cookie"]))["body"]["profile"], "remember_me")

    def test_impersonation_and_the_cache(self):
        c = Client(self.sd.url, self.key, cache=True)
        self.addCleanup(c.close)
        c.cache.wait_ready(15)
        app = app_of(c)
        actor = {"type": "support", "id": "agent-7"}
        own = self.plain.create_session(user_id="bob", device=DEVICE)
        self.assertEqual(call(app, token=own["token"])["body"], {"user": "bob", "profile": "standard", "actor": None})

        def impersonate():
            s = self.plain.create_session(user_id="bob", actor=actor, device=DEVICE)
            self.assertEqual((s["session"]["profile"], s["session"]["actor"]), ("impersonation", actor))
            self.assertEqual(call(app, token=s["token"])["body"], {"user": "bob", "profile": "impersonation",
                                                                    "actor": actor})
            hits = c.cache.stats["hits"]
            self.assertEqual(c.verify(s["token"], device=DEVICE)["session"]["actor"], actor)
            self.assertEqual(c.cache.stats["hits"], hits + 1, "a cached hit")
            return s

        def ended(token):
            with self.assertRaises(SessiondError) as cm:
                c.verify(token, device=DEVICE)
            self.assertTrue(cm.exception.session_ended, cm.exception.code)

        # Another client ends it: the change stream tells c's cache.
        imp = impersonate()
        self.assertEqual(self.plain.revoke_impersonations("bob"), [imp["session"]["id"]])
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                c.verify(imp["token"], device=DEVICE)
                time.sleep(0.01)
            except SessiondError:
                break
        hits = c.cache.stats["hits"]
        ended(imp["token"])
        self.assertEqual(c.cache.stats["hits"], hits, "no hit for the ended impersonation")
        c.verify(own["token"], device=DEVICE)  # the user's own session lives
        self.assertIsNone(call(app, token=imp["token"])["body"]["user"])

        # c ends one itself: no hit at once.
        imp = impersonate()
        self.assertEqual(c.revoke_impersonations("bob"), [imp["session"]["id"]])
        hits = c.cache.stats["hits"]
        ended(imp["token"])
        self.assertEqual(c.cache.stats["hits"], hits)
        self.plain.verify(own["token"], device=DEVICE)
        self.assertEqual(self.plain.revoke_impersonations("bob"), [])


if __name__ == "__main__":
    unittest.main()
