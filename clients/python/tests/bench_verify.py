"""Overhead of one verify through the SDK against calling the endpoint directly.

    SESSIOND_BIN=... python3 -m tests.bench_verify [N]

Starts a real sessiond (tests/harness.py), creates a session, then times N
sequential verifies of it, one thread, each way:

  direct       one keep-alive http.client connection (TCP_NODELAY), request
               bytes prepared once: the floor any client pays (sessiond and
               the loopback hop)
  urllib       urllib.request, a new connection per call (the 0.1 transport)
  httpx        httpx.Client (pooled HTTP/1.1)
  Client       sessiond.Client (http.client keep-alive pool)
  AsyncClient  sessiond.AsyncClient (httpx.AsyncClient), awaited one by one
  Client+cache sessiond.Client(cache=True), a hit (no network)

and prints the median of 5 interleaved rounds in microseconds per verify,
each way's overhead over direct, and the CPU time the app's process spent per
verify (steadier than wall time on a shared machine) and its overhead. httpx.Client (0.23, Debian's) sends
the headers and the body in two writes without TCP_NODELAY, so each call
waits out a delayed ACK (~40 ms): one reason the sync client stays on
http.client.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import statistics
import sys
import time
import urllib.request

from sessiond import AsyncClient, Client
from tests.harness import Sessiond


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
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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

        ways = [("direct", direct), ("urllib", with_urllib), ("httpx", with_httpx), ("Client", with_client),
                ("AsyncClient", with_async), ("Client+cache", with_cache)]
        for _, fn in ways:
            fn(50)  # warm up
        # Interleaved rounds: a burst of load elsewhere hits every way alike.
        per = {name: [] for name, _ in ways}
        cpu = {name: [] for name, _ in ways}
        for _ in range(5):
            for name, fn in ways:
                m = n if name != "httpx" else max(n // 20, 20)  # httpx.Client is ~50 ms a call (below)
                t, c0 = time.perf_counter(), time.process_time()
                fn(m)
                per[name].append((time.perf_counter() - t) / m * 1e6)
                cpu[name].append((time.process_time() - c0) / m * 1e6)
        results = {name: statistics.median(v) for name, v in per.items()}
        base = results["direct"]
        base_cpu = statistics.median(cpu["direct"])
        print(f"{'way':<14}{'µs/verify':>10}{'overhead µs':>13}{'app CPU µs':>12}{'CPU overhead':>14}")
        for name, us in results.items():
            c = statistics.median(cpu[name])
            print(f"{name:<14}{us:>10.0f}{us - base:>13.0f}{c:>12.0f}{c - base_cpu:>14.0f}")
        cached.close()
    finally:
        sd.close()


if __name__ == "__main__":
    main()
