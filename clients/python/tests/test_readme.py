"""Every ```python block of the README runs as written, against a real
sessiond: each is executed with SESSIOND_URL, SESSIOND_API_KEY and
SESSIOND_WEBHOOK_SECRET set, then what it defines is driven (a WSGI
`application`, an ASGI `app`, a `client`, a `webhook` endpoint)."""

import contextlib
import importlib.util
import io
import os
import re
import time
import unittest
from unittest import mock

from sessiond.webhooks import sign_webhook
from tests.harness import REPO, Sessiond

SECRET = "whsec_" + "c2Vzc2lvbmQgcmVhZG1lIHRlc3Qgc2VjcmV0IQ=="


def blocks():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S)


def wsgi_call(app, method, path, cookie=None, body=b"", headers=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1", **(headers or {})}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    out = {}

    def start_response(status, headers, exc_info=None):
        out["status"], out["headers"] = int(status.split()[0]), headers
    out["body"] = b"".join(app(environ, start_response))
    return out


class Readme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.env = {"SESSIOND_URL": cls.sd.url, "SESSIOND_API_KEY": cls.sd.new_api_key("readme")["secret"],
                   "SESSIOND_WEBHOOK_SECRET": SECRET}

    @classmethod
    def tearDownClass(cls):
        cls.sd.close()

    def run_block(self, code):
        ns = {"__name__": "readme_snippet"}
        with mock.patch.dict(os.environ, self.env):
            exec(compile(code, "README.md", "exec"), ns)
        return ns

    def test_there_are_python_blocks(self):
        self.assertGreaterEqual(len(blocks()), 4)

    def test_each_block(self):
        for code in blocks():
            with self.subTest(code.splitlines()[1][:60]):
                if "fastapi" in code and importlib.util.find_spec("fastapi") is None:
                    self.skipTest("needs fastapi (Debian: python3-fastapi)")
                ns = self.run_block(code)
                driven = False
                if "application" in ns:
                    driven = True
                    self.drive_wsgi(ns["application"])
                if "FastAPI" in ns and "app" in ns:
                    driven = True
                    self.drive_asgi(ns["app"])
                if "webhook" in ns:
                    driven = True
                    self.drive_webhook(ns["webhook"])
                if "client" in ns and not driven:
                    driven = True
                    c = ns["client"]
                    s = c.create_session(user_id="readme")
                    self.assertEqual(c.verify(s["token"])["session"]["user_id"], "readme")
                    if getattr(c, "cache", None):
                        c.cache.wait_ready(10)
                        hits = c.cache.stats["hits"]
                        c.verify(s["token"])
                        self.assertEqual(c.cache.stats["hits"], hits + 1)
                    c.close()
                self.assertTrue(driven, "a README block that no test drives")

    def drive_wsgi(self, application):
        self.assertEqual(wsgi_call(application, "GET", "/")["body"], b"Hello visitor")
        r = wsgi_call(application, "POST", "/login")
        self.assertEqual(r["status"], 303)
        cookie = next(v for k, v in r["headers"] if k == "Set-Cookie")
        self.assertIn("Secure", cookie)
        sid = cookie.split(";")[0]
        self.assertEqual(wsgi_call(application, "GET", "/", cookie=sid)["body"], b"Hello alice")

    def drive_asgi(self, app):
        from starlette.testclient import TestClient
        with TestClient(app, base_url="https://testserver") as tc:  # the cookie is Secure
            self.assertEqual(tc.get("/").json(), {"user": None})
            self.assertEqual(tc.post("/login").status_code, 200)
            self.assertEqual(tc.get("/").json(), {"user": "alice"})

    def drive_webhook(self, webhook):
        body, now = b'{"type":"session.revoked"}', int(time.time())
        headers = {"HTTP_WEBHOOK_ID": "msg_1", "HTTP_WEBHOOK_TIMESTAMP": str(now),
                   "HTTP_WEBHOOK_SIGNATURE": sign_webhook(SECRET, "msg_1", now, body)}
        with mock.patch.dict(os.environ, self.env), contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(wsgi_call(webhook, "POST", "/hooks", body=body, headers=headers)["status"], 204)
            headers["HTTP_WEBHOOK_SIGNATURE"] = "v1,AAAA"
            self.assertEqual(wsgi_call(webhook, "POST", "/hooks", body=body, headers=headers)["status"], 400)


if __name__ == "__main__":
    unittest.main()
