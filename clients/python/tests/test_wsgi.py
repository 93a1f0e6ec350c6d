"""SessionMiddleware without a real sessiond: a fake one answers each failure,
and the browser must get the right status with its cookie kept (or cleared
only when the session is over). Also merge_patch."""

from __future__ import annotations

import io
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sessiond import Client, SessionMiddleware, get_session, merge_patch, require_recent_auth


class Fake:
    """A fake sessiond: every call gets reply = (status, code, extra headers)."""

    def __init__(self):
        fake = self
        self.reply = (503, "unavailable", {"Retry-After": "2"})
        self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                fake.calls.append(json.loads(self.rfile.read(n) or b"{}"))
                status, code, extra = fake.reply
                body = json.dumps({"type": "x", "title": code, "status": status, "code": code, "request_id": "r1"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/problem+json" if code else "text/html")
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def inner(environ, start_response):
    s = get_session(environ)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"user": s.user_id, "new": s.is_new}).encode()]


def call(app, method="GET", cookie="__Host-sid=v1.tok", body=b"", headers=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/", "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "203.0.113.7", **(headers or {})}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    out = {}

    def start_response(status, hdrs, exc_info=None):
        out["status"], out["headers"] = int(status.split()[0]), hdrs
    out["body"] = b"".join(app(environ, start_response))
    return out


def header(out, name):
    return [v for k, v in out["headers"] if k.lower() == name.lower()]


class Middleware(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake()
        cls.app = SessionMiddleware(inner, Client(cls.fake.url, "sk_test"), cookie_name="__Host-sid")

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def test_each_failure_by_its_code(self):
        cases = [
            ("503 unavailable: 503 with Retry-After, cookie kept", (503, "unavailable", {"Retry-After": "9"}), 503, "9", False),
            ("401 unauthorized (API key revoked): 500, cookie kept", (401, "unauthorized", {}), 500, None, False),
            ("403 forbidden: 500, cookie kept", (403, "forbidden", {}), 500, None, False),
            ("429 rate_limited: 429", (429, "rate_limited", {"Retry-After": "60"}), 429, "60", False),
            ("a proxy's 502: 503", (502, "", {}), 503, "5", False),
            ("401 session_invalid: anonymous, cookie cleared", (401, "session_invalid", {}), 200, None, True),
            ("401 session_expired_absolute: the same", (401, "session_expired_absolute", {}), 200, None, True),
            ("403 csrf_mismatch: 403, cookie kept", (403, "csrf_mismatch", {}), 403, None, False),
        ]
        for name, reply, status, retry, cleared in cases:
            with self.subTest(name):
                self.fake.reply = reply
                out = call(self.app)
                self.assertEqual(out["status"], status, out["body"])
                self.assertEqual((header(out, "Retry-After") or [None])[0], retry)
                cookies = header(out, "Set-Cookie")
                if cleared:
                    self.assertEqual(cookies, ["__Host-sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax; Secure"])
                    self.assertEqual(json.loads(out["body"]), {"user": None, "new": True})
                else:
                    self.assertEqual(cookies, [], "the cookie must be kept")

    def test_no_cookie_no_call(self):
        self.fake.calls.clear()
        self.assertEqual(call(self.app, cookie=None)["status"], 200)
        self.assertEqual(self.fake.calls, [])

    def test_unsafe_methods_send_the_form_csrf_token_and_keep_the_body(self):
        seen = {}

        def reads_body(environ, start_response):
            seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            start_response("200 OK", [])
            return [b""]
        self.fake.reply = (403, "csrf_mismatch", {})
        self.fake.calls.clear()
        app = SessionMiddleware(reads_body, Client(self.fake.url, "sk_test"))
        out = call(app, "POST", cookie="sid=v1.tok", body=b"_csrf=abc&x=1",
                   headers={"CONTENT_TYPE": "application/x-www-form-urlencoded"})
        self.assertEqual(out["status"], 403)
        self.assertEqual(self.fake.calls[-1]["csrf_token"], "abc")
        self.assertEqual(self.fake.calls[-1]["device"], {"ip": "203.0.113.7"})

    def test_require_recent_auth_without_a_session_is_403(self):
        app = SessionMiddleware(require_recent_auth(60)(inner), Client(self.fake.url, "sk_test"))
        self.assertEqual(call(app, cookie=None)["status"], 403)

    def test_unsafe_cookie_settings_are_refused(self):
        c = Client(self.fake.url, "sk_test")
        for kwargs in [dict(samesite="None", secure=False), dict(cookie_name="__Host-sid", secure=False),
                       dict(cookie_name="__Host-sid", path="/app"), dict(samesite="lax")]:
            with self.subTest(**kwargs), self.assertRaises(ValueError):
                SessionMiddleware(inner, c, **kwargs)


class MergePatch(unittest.TestCase):
    def test_cases(self):
        for name, before, after, want in [
            ("nothing changed", {"a": 1, "b": {"c": [1]}}, {"a": 1, "b": {"c": [1]}}, None),
            ("added and changed", {"a": 1}, {"a": 2, "b": "x"}, {"a": 2, "b": "x"}),
            ("a removed key becomes null", {"a": 1, "b": 2}, {"a": 1}, {"b": None}),
            ("a None value is removed", {"a": 1}, {"a": None}, {"a": None}),
            ("nested dicts are diffed", {"p": {"x": 1, "y": 2}}, {"p": {"x": 1}}, {"p": {"y": None}}),
            ("lists are replaced whole", {"l": [1, 2]}, {"l": [1]}, {"l": [1]}),
        ]:
            with self.subTest(name):
                self.assertEqual(merge_patch(before, after), want)


if __name__ == "__main__":
    unittest.main()
