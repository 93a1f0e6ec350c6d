"""Revocation latency into the Python cache: from sessiond's answer to a revoke
(made by another client, as another app instance would) to the cache dropping
the entry, over N revocations, with two caches (two app instances) connected.

    SESSIOND_BIN=... python3 -m tests.bench_revocation [N]

Prints p50, p99 and max in milliseconds, per cache and overall.
"""

import statistics
import sys
import threading
import time

from sessiond import Client
from tests.harness import Sessiond


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    sd = Sessiond({"SESSIOND_CEILING_REQUESTS_PER_SECOND": "10000000", "SESSIOND_LOG_LEVEL": "warn"})
    try:
        key = sd.new_api_key("bench")["secret"]
        apps = [Client(sd.url, key, cache=True) for _ in range(2)]
        seen = [dict() for _ in apps]  # session id -> time.monotonic() of the drop
        done = [threading.Condition() for _ in apps]
        for i, app in enumerate(apps):
            original = app.cache.forget_sessions

            def forget(ids, i=i, original=original):
                original(ids)
                now = time.monotonic()
                with done[i]:
                    for sid in ids:
                        seen[i].setdefault(sid, now)
                    done[i].notify_all()
            app.cache.forget_sessions = forget
            app.cache.wait_ready(15)
        admin = Client(sd.url, sd.admin_key)
        lat = [[] for _ in apps]
        for _ in range(n):
            s = admin.create_session(user_id="bench")
            for app in apps:
                app.verify(s["token"])
            admin.revoke_session(s["session"]["id"])
            answered = time.monotonic()
            for i in range(len(apps)):
                with done[i]:
                    done[i].wait_for(lambda: s["session"]["id"] in seen[i], timeout=5)
                    lat[i].append((seen[i].get(s["session"]["id"], answered + 5) - answered) * 1000)

        def q(v, p):
            v = sorted(v)
            return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
        every = [x for v in lat for x in v]
        for name, v in [("app 1", lat[0]), ("app 2", lat[1]), ("both", every)]:
            # A drop can come before the client sees the answer (the frame and the answer race): < 0 ms.
            print(f"{name}: n={len(v)} p50={statistics.median(v):.2f} ms p99={q(v, 0.99):.2f} ms max={max(v):.2f} ms")
        for app in apps:
            app.close()
    finally:
        sd.close()


if __name__ == "__main__":
    main()
