"""sessiond.Client against a real sessiond: the calls the middleware relies on
and how failures surface."""

from __future__ import annotations

import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from sessiond import Client, SessiondError, browser_status
from tests.harness import Sessiond, eventually, free_port


class ClientAgainstSessiond(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.c = Client(cls.sd.url, cls.sd.new_api_key("python client test")["secret"])
        cls.admin = Client(cls.sd.url, cls.sd.admin_key)

    @classmethod
    def tearDownClass(cls):
        cls.sd.close()

    def code(self, fn, *args, **kwargs) -> SessiondError:
        with self.assertRaises(SessiondError) as cm:
            fn(*args, **kwargs)
        return cm.exception

    def test_create_verify_patch_regenerate_list(self):
        anon = self.c.create_session(data={"views": 1}, device={"user_agent": "py-test", "ip": "203.0.113.7"})
        self.assertNotIn("user_id", anon["session"])
        v = self.c.verify(anon["token"], csrf_token=anon["csrf_token"])
        self.assertEqual(v["session"]["id"], anon["session"]["id"])
        self.assertNotIn("token", v, "no re-signed token without a rotation")
        s = self.c.patch_data(anon["session"]["id"], {"views": 2, "cart": {"items": 1}}, if_version=anon["session"]["version"])
        self.assertEqual(s["data"], {"views": 2, "cart": {"items": 1}})
        e = self.code(self.c.patch_data, anon["session"]["id"], {"views": 3}, if_version=anon["session"]["version"])
        self.assertEqual(e.code, "version_conflict")
        login = self.c.regenerate(anon["token"], user_id="alice")
        self.assertEqual(login["session"]["user_id"], "alice")
        self.assertEqual(login["session"]["data"], {"views": 2, "cart": {"items": 1}})
        self.assertTrue(login["session"].get("auth_time"))
        self.assertTrue(self.code(self.c.verify, anon["token"]).session_ended)
        self.assertEqual([d["id"] for d in self.c.user_sessions("alice")], [login["session"]["id"]])
        self.assertEqual(self.c.get_session(login["session"]["id"])["user_id"], "alice")

    def test_a_create_with_user_id_is_a_login(self):
        s = self.c.create_session(user_id="bob")
        self.assertTrue(s["session"].get("auth_time"), "auth_time is set")
        self.assertEqual(self.c.verify(s["token"], max_auth_age=60)["session"]["user_id"], "bob")

    def test_revoke_token_is_one_call_and_idempotent(self):
        s = self.c.create_session(user_id="carol")
        self.c.revoke_token(s["token"])
        self.assertEqual(self.code(self.c.verify, s["token"]).code, "session_invalid")
        self.c.revoke_token(s["token"])
        self.c.revoke_token("junk")

    def test_any_string_as_a_token_is_session_invalid(self):
        for token in ["", "junk", "v1.k_x.ab.c.d", "x" * 600, '{"a": 1}']:
            with self.subTest(token=token[:10]):
                self.assertEqual(self.code(self.c.verify, token).code, "session_invalid")
                self.assertEqual(self.code(self.c.regenerate, token, user_id="x").code, "session_invalid")

    def test_reauth_and_csrf(self):
        s = self.c.create_session(user_id="dave")
        time.sleep(1.1)
        self.assertEqual(self.code(self.c.verify, s["token"], max_auth_age=1).code, "reauth_required")
        again = self.c.regenerate(s["token"], reauthenticated=True)
        self.c.verify(again["token"], max_auth_age=1)
        self.assertEqual(self.code(self.c.verify, again["token"], csrf_token="forged").code, "csrf_mismatch")

    def test_log_out_other_devices(self):
        ds = [self.c.create_session(user_id="erin", device={"user_agent": ua}) for ua in ("laptop", "phone", "tablet")]
        first = self.c.user_sessions_page("erin", limit=2)
        self.assertEqual(len(first["sessions"]), 2)
        self.assertTrue(first["next_cursor"], "a second page")
        second = self.c.user_sessions_page("erin", cursor=first["next_cursor"], limit=2)
        # Oldest first, but sessions made in the same millisecond may come in any order.
        self.assertEqual(len(second["sessions"]), 1)
        self.assertEqual(sorted(s["id"] for s in first["sessions"] + second["sessions"]),
                         sorted(d["session"]["id"] for d in ds))
        self.assertEqual(len(self.c.user_sessions("erin")), 3)
        ended = self.c.revoke_user_sessions("erin", except_id=ds[2]["session"]["id"])
        self.assertEqual(sorted(ended), sorted(d["session"]["id"] for d in ds[:2]))
        self.c.verify(ds[2]["token"])
        self.assertEqual(self.code(self.c.verify, ds[0]["token"]).code, "session_invalid")

    def test_key_rotation_hands_back_a_resigned_token(self):
        s = self.c.create_session(user_id="frank")
        kid = self.admin.keys()[0]["kid"]
        self.assertEqual(self.admin.rotate_key()["state"], "active")
        v = self.c.verify(s["token"])
        self.assertTrue(v.get("token") and v["token"] != s["token"])
        self.admin.retire_key(kid)
        self.assertEqual(self.code(self.c.verify, s["token"]).code, "session_invalid")
        self.assertEqual(self.c.verify(v["token"])["session"]["user_id"], "frank")

    def test_a_bad_or_revoked_api_key_is_unauthorized_not_a_session_error(self):
        e = self.code(Client(self.sd.url, "sk_nope").verify, "whatever")
        self.assertEqual((e.code, e.http_status, e.session_ended, browser_status(e)), ("unauthorized", 401, False, 500))
        k = self.admin.create_api_key("short-lived")
        doomed = Client(self.sd.url, k["secret"])
        s = doomed.create_session(user_id="gina")
        self.admin.revoke_api_key(k["id"])

        def revoked():
            try:
                doomed.verify(s["token"])
            except SessiondError as err:
                assert err.code == "unauthorized", err
                return
            raise AssertionError("the revoked key still works")
        eventually(revoked)
        self.assertEqual(self.c.verify(s["token"])["session"]["user_id"], "gina", "the user is still logged in")

    def test_the_pool_survives_a_sessiond_restart(self):
        s = self.c.create_session(user_id="restart")
        with ThreadPoolExecutor(4) as pool:  # several idle keep-alive connections
            list(pool.map(lambda _: self.c.verify(s["token"]), range(16)))
        self.assertGreater(len(self.c._pool._idle), 1)
        self.sd.stop()
        self.sd.start()
        self.assertEqual(self.c.verify(s["token"])["session"]["user_id"], "restart", "the first call after works")

    def test_a_network_error_is_unavailable(self):
        e = self.code(Client(f"http://127.0.0.1:{free_port()}", "sk_x", timeout=2).verify, "x")
        self.assertEqual((e.code, e.http_status, e.unavailable, e.session_ended), ("unavailable", 0, True, False))
        self.assertEqual(browser_status(e), 503)


if __name__ == "__main__":
    unittest.main()
