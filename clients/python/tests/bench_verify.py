"""Overhead of one verify through the SDK against calling the endpoint directly.

    SESSIOND_BIN=... python3 -m tests.bench_verify [N]

Starts a real sessiond (tests/harness.py), creates a session, then times N
sequential verifies of it, one thread, each way:

  direct       one keep-alive http.client connection, request bytes prepared
               once: the floor any client pays (sessiond + the loopback hop)
  urllib       urllib.request, a new connection per call (the 0.1 transport)
  httpx        httpx.Client (pooled HTTP/1.1)
  Client       sessiond.Client (http.client keep-alive pool)
  AsyncClient  sessiond.AsyncClient (httpx.AsyncClient), awaited one by one
  Client+cache sessiond.Client(cache=True), a hit (no network)

and prints the median of 5 rounds in microseconds per verify, and each
way's overhead over direct.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import statistics
import sys
import time
import urllib.request

from sessiond import AsyncClient, Client
from tests.harness import Sessiond


def rounds(fn, n, k=5):
    out = []
    for _ in range(k):
        t = time.perf_counter()
        fn(n)
        out.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    sd = Sessiond({"SESSIOND_CEILING_REQUESTS_PER_SECOND": "10000000", "SESSIOND_LOG_LEVEL": "warn"})
    try:
        key = sd.new_api_key("bench")["secret"]
        c = Client(sd.url, key)
        token = c.create_session(user_id="bench")["token"]
        body = json.dumps({"token": token}).encode()
        headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
        results = {}

        conn = http.client.HTTPConnection("127.0.0.1", sd.port)

        def direct(n):
            for _ in range(n):
                conn.request("POST", "/v1/sessions/verify", body, headers)
                r = conn.getresponse()
                assert r.status == 200, r.status
                json.loads(r.read())

        def with_urllib(n):
            for _ in range(n):
                req = urllib.request.Request(sd.url + "/v1/sessions/verify", data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=5) as r:
                    json.loads(r.read())

        import httpx
        hx = httpx.Client(base_url=sd.url, trust_env=False, headers=headers)

        def with_httpx(n):
            for _ in range(n):
                r = hx.post("/v1/sessions/verify", content=body)
                assert r.status_code == 200
                r.json()

        def with_client(n):
            for _ in range(n):
                c.verify(token)

        def with_async(n):
            async def go():
                async with AsyncClient(sd.url, key) as ac:
                    for _ in range(n):
                        await ac.verify(token)
            asyncio.run(go())

        try:
            cached = Client(sd.url, key, cache=True)
            cached.cache.wait_ready(10)
            cached.verify(token)
        except Exception as e:  # a server without the changes stream
            print(f"(no cache: {e!r})")
            cached = c

        def with_cache(n):
            for _ in range(n):
                cached.verify(token)

        for name, fn in [("direct", direct), ("urllib", with_urllib), ("httpx", with_httpx), ("Client", with_client),
                         ("AsyncClient", with_async), ("Client+cache", with_cache)]:
            fn(50)  # warm up
            results[name] = rounds(fn, n)
        base = results["direct"]
        print(f"{'way':<14}{'µs/verify':>10}{'overhead µs':>13}")
        for name, us in results.items():
            print(f"{name:<14}{us:>10.0f}{us - base:>13.0f}")
        cached.close()
    finally:
        sd.close()


if __name__ == "__main__":
    main()
