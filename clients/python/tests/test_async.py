"""sessiond.AsyncClient against a real sessiond: the same answers and codes
as Client, connections reused, the cache shared with its thread."""

import asyncio
import importlib.util
import unittest

from tests.harness import Sessiond, free_port


@unittest.skipUnless(importlib.util.find_spec("httpx"), "needs httpx (Debian: python3-httpx)")
class AsyncClientAgainstSessiond(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sd = Sessiond()
        cls.key = cls.sd.new_api_key("python async test")["secret"]

    @classmethod
    def tearDownClass(cls):
        cls.sd.close()

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 60))

    def test_operations_and_codes(self):
        from sessiond import AsyncClient, SessiondError

        async def go():
            async with AsyncClient(self.sd.url, self.key) as c:
                s = await c.create_session(data={"n": 1})
                v = await c.verify(s["token"], csrf_token=s["csrf_token"])
                self.assertEqual(v["session"]["id"], s["session"]["id"])
                login = await c.regenerate(s["token"], user_id="amy")
                self.assertEqual((await c.verify(login["token"]))["session"]["user_id"], "amy")
                for _ in range(3):
                    await c.create_session(user_id="amy")
                self.assertEqual(len(await c.user_sessions("amy")), 4)
                self.assertEqual(len(await c.revoke_user_sessions("amy", except_id=login["session"]["id"])), 3)
                with self.assertRaises(SessiondError) as cm:
                    await c.verify(s["token"])
                self.assertEqual((cm.exception.code, cm.exception.session_ended), ("session_invalid", True))
                with self.assertRaises(SessiondError) as cm:
                    await c.verify(login["token"], csrf_token="forged")
                self.assertEqual(cm.exception.code, "csrf_mismatch")
                self.assertIsNone(await c.revoke_token(login["token"]))
                # Many calls in parallel over the pool.
                answers = await asyncio.gather(*(c.create_session(user_id=f"p{i}") for i in range(20)))
                self.assertEqual(len({a["session"]["id"] for a in answers}), 20)
            async with AsyncClient(self.sd.url, "sk_nope") as bad:
                with self.assertRaises(SessiondError) as cm:
                    await bad.verify("x")
                self.assertEqual((cm.exception.code, cm.exception.session_ended), ("unauthorized", False))
            async with AsyncClient(f"http://127.0.0.1:{free_port()}", "sk_x", timeout=2) as down:
                with self.assertRaises(SessiondError) as cm:
                    await down.verify("x")
                self.assertEqual((cm.exception.code, cm.exception.http_status, cm.exception.unavailable),
                                 ("unavailable", 0, True))
        self.run_async(go())

    def test_cache(self):
        from sessiond import AsyncClient, SessiondError

        async def go():
            async with AsyncClient(self.sd.url, self.key, cache=True) as c:
                await asyncio.get_running_loop().run_in_executor(None, c.cache.wait_ready, 15)
                s = await c.create_session(user_id="cached", data={"n": 1})
                await c.verify(s["token"])
                hits = c.cache.stats["hits"]
                self.assertEqual((await c.verify(s["token"]))["session"]["data"], {"n": 1})
                self.assertEqual(c.cache.stats["hits"], hits + 1)
                await c.patch_data(s["session"]["id"], {"n": 2})
                self.assertEqual((await c.verify(s["token"]))["session"]["data"], {"n": 2}, "own writes at once")
                await c.revoke_token(s["token"])
                with self.assertRaises(SessiondError):
                    await c.verify(s["token"])
        self.run_async(go())


if __name__ == "__main__":
    unittest.main()
