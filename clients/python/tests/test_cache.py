"""The local verified-session cache against a real sessiond and its changes
stream: hits without a network call, revocations racing hits, a stream cut
with revocations during the cut, the CSRF and re-auth rules on a hit, the
race rule, bounds."""

from __future__ import annotations

import threading
import time
import unittest

from sessiond import Client, SessiondError
from sessiond.cache import Cache, touch_every
from sessiond.client import parse_time
from tests.harness import Sessiond


class CacheAgainstSessiond(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The race test's bursts of verifies go past the default 1000 requests a
        # second of a tenant, and the next test's calls would be rate_limited.
        cls.sd = Sessiond(extra_env={"SESSIOND_CEILING_REQUESTS_PER_SECOND": "1000000"})
        cls.key = cls.sd.new_api_key("python cache test")["secret"]
        cls.c = Client(cls.sd.url, cls.key, cache=True)
        cls.c.cache.wait_ready(15)
        cls.other = Client(cls.sd.url, cls.sd.admin_key)  # another app instance, no cache

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.sd.close()

    def cached(self, user="u", **kw):
        s = self.other.create_session(user_id=user, **kw)
        self.c.verify(s["token"])
        return s

    def hits(self):
        return self.c.cache.stats["hits"]

    def test_a_hit_is_answered_locally_with_the_same_answer(self):
        s = self.other.create_session(user_id="hit", data={"a": 1})
        first = self.c.verify(s["token"])
        before = self.hits()
        again = self.c.verify(s["token"])
        self.assertEqual(self.hits(), before + 1)
        self.assertEqual(again["session"]["id"], first["session"]["id"])
        self.assertEqual(again["csrf_token"], s["csrf_token"])
        self.assertEqual(again["session"]["data"], {"a": 1})

    def test_own_writes_are_seen_at_once(self):
        s = self.cached("writer", data={"n": 1})
        self.c.patch_data(s["session"]["id"], {"n": 2})
        self.assertEqual(self.c.verify(s["token"])["session"]["data"], {"n": 2})
        self.c.revoke_token(s["token"])
        with self.assertRaises(SessiondError) as cm:
            self.c.verify(s["token"])
        self.assertEqual(cm.exception.code, "session_invalid")

    def test_a_revoke_elsewhere_races_a_burst_of_hits(self):
        """Hits run in 4 threads while another instance revokes: the stream must
        drop the entry within 100 ms of the revoke's answer (generously 1 s on
        a loaded machine); after that no verify may accept the token."""
        latencies = []
        for round_ in range(5):
            s = self.cached(f"race{round_}")
            stop, accepted_after = threading.Event(), []
            answered = [None]

            def hammer():
                while not stop.is_set():
                    t = time.monotonic()
                    try:
                        self.c.verify(s["token"])
                    except SessiondError:
                        continue
                    if answered[0] is not None and t > answered[0]:
                        accepted_after.append(t - answered[0])
            threads = [threading.Thread(target=hammer) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.05)
            self.other.revoke_session(s["session"]["id"])
            answered[0] = time.monotonic()
            time.sleep(0.3)
            stop.set()
            for t in threads:
                t.join()
            late = max(accepted_after, default=0.0)
            latencies.append(late)
            self.assertLess(late, 1.0, f"a hit accepted the revoked token {late * 1000:.0f} ms after the revoke")
            for _ in range(50):
                with self.assertRaises(SessiondError):
                    self.c.verify(s["token"])
        print(f"\n  cache: last stale accept after a revoke, per round (ms): {[round(x * 1000, 1) for x in latencies]}")

    def test_log_out_everywhere_and_other_devices(self):
        a, b, c = (self.cached("multi", device={"user_agent": ua}) for ua in ("a", "b", "c"))
        self.other.revoke_user_sessions("multi", except_id=c["session"]["id"])
        deadline = time.time() + 2
        while time.time() < deadline:
            try:
                self.c.verify(a["token"])
                time.sleep(0.01)
            except SessiondError:
                break
        for s in (a, b):
            with self.assertRaises(SessiondError):
                self.c.verify(s["token"])
        self.c.verify(c["token"])

    def test_a_stream_cut_with_revocations_during_it(self):
        cache = self.c.cache
        kept, during = self.cached("cut-kept"), self.cached("cut-revoked")
        hold = threading.Event()
        original = cache._read_stream

        def held():
            hold.wait(10)
            return original()
        cache._read_stream = held
        try:
            cache._conn.sock.shutdown(2)  # the connection drops
            deadline = time.time() + 5
            while cache.serving and time.time() < deadline:
                time.sleep(0.01)
            self.assertFalse(cache.serving, "no hits while the stream is down")
            hits = self.hits()
            self.other.revoke_session(during["session"]["id"])
            self.c.verify(kept["token"])
            self.assertEqual(self.hits(), hits, "a verify during the cut goes to sessiond")
            with self.assertRaises(SessiondError):
                self.c.verify(during["token"])
            # A session cached during the cut and revoked elsewhere: only the
            # stream's backlog (resumed from Last-Event-ID) can drop it.
            other = self.cached("cut-revoked-2")
            self.other.revoke_session(other["session"]["id"])
        finally:
            cache._read_stream = original
            hold.set()
        cache.wait_ready(10)
        with self.assertRaises(SessiondError, msg="the backlog dropped the session revoked during the cut"):
            self.c.verify(other["token"])
        hits = self.hits()
        self.c.verify(kept["token"])
        self.assertEqual(self.hits(), hits + 1, "the rest of the cache survived the resume")

    def test_a_sessiond_restart_with_revocations_on_another_instance(self):
        """The cache's sessiond stops: no hits (fail closed); meanwhile another
        instance revokes a cached session; once back, the stream resumes from
        its last id (kept in Redis) and the revoked session is never a hit."""
        cache = self.c.cache
        kept, doomed = self.cached("restart-kept"), self.cached("restart-doomed")
        self.sd.peer()
        try:
            peer = Client(self.sd.peer_url, self.sd.admin_key)
            self.sd.stop()
            with self.assertRaises(SessiondError) as cm:
                self.c.verify(kept["token"])
            self.assertEqual(cm.exception.code, "unavailable", "no hit while the stream is down")
            peer.revoke_session(doomed["session"]["id"])
            self.sd.start()
            cache.wait_ready(15)
            with self.assertRaises(SessiondError) as cm:
                self.c.verify(doomed["token"])
            self.assertEqual(cm.exception.code, "session_invalid")
            hits = self.hits()
            self.c.verify(kept["token"])
            self.assertEqual(self.hits(), hits + 1, "resumed, not reset: the other entries stay")
            peer.close()
        finally:
            self.sd.stop_peer()

    def test_csrf_and_reauth_rules_on_a_hit(self):
        s = self.cached("rules")
        hits = self.hits()
        self.c.verify(s["token"], csrf_token=s["csrf_token"])
        self.assertEqual(self.hits(), hits + 1, "the right CSRF token is a hit")
        for bad in ("forged", "", s["csrf_token"][:-1]):
            with self.assertRaises(SessiondError) as cm:
                self.c.verify(s["token"], csrf_token=bad)
            self.assertEqual(cm.exception.code, "csrf_mismatch")
        self.assertEqual(self.hits(), hits + 1, "a wrong CSRF token is never a hit")
        self.c.verify(s["token"], max_auth_age=60)
        self.assertEqual(self.hits(), hits + 2, "a recent login is a hit")
        time.sleep(1.1)
        with self.assertRaises(SessiondError) as cm:
            self.c.verify(s["token"], max_auth_age=1)
        self.assertEqual(cm.exception.code, "reauth_required")
        self.assertEqual(self.hits(), hits + 2)

    def test_hits_slide_the_idle_timer_with_background_touches(self):
        """idle_timeout 10 s: a touch at most every second (a tenth); hits
        alone must move the session's idle expiry on the server."""
        s = self.cached("toucher", idle_timeout=10)
        before = parse_time(self.other.get_session(s["session"]["id"])["idle_expires_at"])
        touches = self.c.cache.stats["touches"]
        time.sleep(1.2)
        hits = self.hits()
        self.c.verify(s["token"])
        self.assertEqual(self.hits(), hits + 1)
        deadline = time.time() + 5
        while self.c.cache.stats["touches"] == touches and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.c.cache.stats["touches"], touches + 1, "one touch")
        after = parse_time(self.other.get_session(s["session"]["id"])["idle_expires_at"])
        self.assertGreater(after, before, "the server's idle expiry moved")
        self.c.verify(s["token"])
        time.sleep(0.2)
        self.assertEqual(self.c.cache.stats["touches"], touches + 1, "no second touch within the interval")

    def test_policy_tightening_and_device_binding_on_a_hit(self):
        """PUT /v1/policy with ip binding enforced: the tenant frame drops the
        cache and brings the policy; a hit then needs the same IP as stored."""
        cache = self.c.cache
        policy = self.sd.admin("GET", "/v1/policy")
        here = {"ip": "203.0.113.7", "user_agent": "ua"}
        s = self.cached("bound", device=here)
        try:
            self.sd.admin("PUT", "/v1/policy", dict(policy, binding={"ip": "enforce", "user_agent": "off"}))
            deadline = time.time() + 5
            while (cache._policy.get("binding") or {}).get("ip") != "enforce" and time.time() < deadline:
                time.sleep(0.01)
            self.assertEqual(cache._policy["binding"]["ip"], "enforce", "the policy came with the tenant frame")
            self.assertEqual(len(cache), 0, "a policy change drops the whole cache")
            self.c.verify(s["token"], device=here)
            hits = self.hits()
            self.c.verify(s["token"], device=here)
            self.assertEqual(self.hits(), hits + 1, "the same IP is a hit")
            with self.assertRaises(SessiondError) as cm:
                self.c.verify(s["token"], device={"ip": "198.51.100.1", "user_agent": "ua"})
            self.assertEqual(cm.exception.code, "binding_mismatch")
            self.assertEqual(self.hits(), hits + 1, "another IP is never a hit")
        finally:
            self.sd.admin("PUT", "/v1/policy", policy)

    def test_key_rotation_and_retirement(self):
        """A rotation drops the cache, so the next verify brings the re-signed
        token; once the old key is retired the old token is never a hit."""
        s = self.cached("rotated")
        kid = self.other.keys()[0]["kid"]
        self.other.rotate_key()
        deadline, v = time.time() + 5, {}
        while "token" not in v and time.time() < deadline:
            v = self.c.verify(s["token"])
            time.sleep(0.01)
        self.assertIn("token", v, "a hit hid the re-signed token after the rotation")
        self.c.verify(v["token"])
        self.other.retire_key(kid)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                self.c.verify(s["token"])
            except SessiondError:
                break
        with self.assertRaises(SessiondError) as cm:
            self.c.verify(s["token"])
        self.assertEqual(cm.exception.code, "session_invalid")
        self.assertEqual(self.c.verify(v["token"])["session"]["user_id"], "rotated")

    def test_the_race_rule_and_the_bounds(self):
        cache = Cache(max_entries=2)
        cache._policy = {}
        answer = lambda sid: {"session": {"id": sid, "expires_at": "2999-01-01T00:00:00Z",  # noqa: E731
                                          "idle_expires_at": "2999-01-01T00:00:00Z"}, "csrf_token": "c"}
        epoch = cache.epoch()
        cache.forget_sessions(["s_other"])  # a drop while a verify was in flight
        cache.store("t1", None, None, answer("s1"), epoch)
        self.assertEqual(len(cache), 0, "a verify that began before a drop stores nothing")
        for i in range(3):
            cache.store(f"t{i}", None, None, answer(f"s{i}"), cache.epoch())
        self.assertEqual(len(cache), 2)
        self.assertNotIn("t2", "".join(cache._entries), "keys are digests, never tokens")
        cache.store("t9", None, None, dict(answer("s9"), token="v1.resigned"), cache.epoch())
        self.assertIsNone(cache._by_sid.get("s9"), "a re-signed answer is not kept")
        cache.store("t8", None, None, dict(answer("s8"), binding_mismatch=True), cache.epoch())
        self.assertIsNone(cache._by_sid.get("s8"), "a reported binding mismatch is not kept")
        self.assertIsNone(cache.lookup("t2", None, None, None), "no hits without a ready stream")


class TouchEvery(unittest.TestCase):
    """How often a cached session in use slides sessiond's idle deadline."""

    def test_intervals(self):
        for idle, want in [(0, 5.0), (1800, 30.0), (86400, 60.0), (300, 5.0), (20, 2.0)]:
            self.assertEqual(touch_every(5.0, idle), want, f"idle_timeout {idle}")


if __name__ == "__main__":
    unittest.main()
