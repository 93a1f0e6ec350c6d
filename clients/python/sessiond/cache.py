"""The local verified-session cache (opt-in: ``Client(url, key, cache=True)``).

A verify that hits the cache answers with no network call. The cache is kept
exact by sessiond's changes stream (``GET /v1/changes``), read on a thread of
its own, and it fails closed:

* hits are served only while the stream is connected, has sent ``ready`` and
  was heard from within 3 heartbeats; otherwise every verify goes to sessiond
  at once, while the stream reconnects (with backoff) from its last id; a
  ``reset`` (the id cannot be resumed) drops the whole cache;
* a hit applies locally what verify would: the absolute and idle deadlines
  (as sessiond last reported them), ``max_auth_age`` from ``auth_time``, the
  CSRF token (SHA-256 digests compared in constant time), the device
  binding of the policy (a different IP or user agent goes to sessiond), and
  the step-up checks: the policy's ``min_aal`` (as the stream last delivered
  it), the call's ``min_aal`` and ``max_factor_age`` (from the session's
  ``aal`` and ``amr``); a session short of them goes to sessiond, which
  answers ``step_up_required``;
  anything it cannot decide goes to sessiond, whose answer refreshes the entry
  (or removes it);
* a network verify that began before a drop (any change event, or this
  client's own revoke/regenerate/patch) does not store its answer: an epoch
  counter, bumped by every drop, must be unchanged;
* entries are keyed by the SHA-256 of the token (never the token), bounded by
  count and bytes (least recently used out first);
* a session in use is touched (a verify in the background) at most once per
  touch interval (``touch_every``: ``touch_interval_ms``, 5 s, or a sixtieth
  of the session's idle timeout when longer, at most a minute; never more
  than a tenth of it), so its idle expiry on the server lags its last real
  use by at most that.

The guarantee: once sessiond has answered a revocation, the change is in the
stream; each connected cache drops the entry when the frame arrives
(milliseconds on one machine), and a cache whose stream is late by more than 3
heartbeats serves nothing. Between the answer and the frame's arrival (the
stream's delivery time) another process's cache may still accept the token.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import queue
import random
import threading
import time
from collections import OrderedDict
from typing import Callable, Optional

from .client import AMR_METHODS, parse_time

__all__ = ["Cache"]


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _digest(s: Optional[str]) -> bytes:
    return hashlib.sha256((s or "").encode("utf-8", "surrogatepass")).digest()


def _ts(s: Optional[str]) -> Optional[float]:
    t = parse_time(s)
    return None if t is None else t.timestamp()


def touch_every(stream_s: float, idle_timeout: float) -> float:
    """The least seconds between two touches of a session whose idle timeout
    is ``idle_timeout``: the stream's interval, or a sixtieth of the idle
    timeout when that is longer (at most a minute: 30 s for the default 30
    minutes), but never more than a tenth of it (sessiond's own interval for
    recording a use)."""
    if not idle_timeout or idle_timeout <= 0:
        return stream_s
    return min(max(stream_s, min(idle_timeout / 60, 60.0)), idle_timeout / 10)


class _Entry:
    __slots__ = ("answer", "sid", "user_id", "expires", "idle", "idle_timeout", "auth_time", "csrf", "device", "size",
                 "touched", "aal", "factors")

    def __init__(self, answer: dict, device: Optional[dict], size: int, now: float):
        s = answer["session"]
        self.answer, self.sid, self.user_id = answer, s["id"], s.get("user_id")
        self.expires, self.idle = _ts(s.get("expires_at")), _ts(s.get("idle_expires_at"))
        self.idle_timeout = s.get("idle_timeout") or 0
        self.auth_time = _ts(s.get("auth_time"))
        aal = s.get("aal")
        self.aal = aal if isinstance(aal, int) else 1
        # method → when it was last proved (seconds); an entry sessiond did not send is unknown, not proved.
        self.factors = {}
        for f in s.get("amr") or ():
            try:
                self.factors[f["method"]] = _ts(f["at"])
            except (KeyError, TypeError, ValueError):
                continue
        self.csrf = _digest(answer.get("csrf_token"))
        self.device = dict(device or {})
        self.size, self.touched = size, now


class Cache:
    """A bounded verified-session cache fed by the changes stream. Pass one to
    ``Client(cache=Cache(...))`` or use ``cache=True`` for the defaults."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 32 << 20, clock: Callable[[], float] = time.time):
        self.max_entries, self.max_bytes, self.clock = max_entries, max_bytes, clock
        self._lock = threading.Lock()
        self._entries: "OrderedDict[str, _Entry]" = OrderedDict()
        self._by_sid: dict = {}
        self._bytes = 0
        self._epoch = 0
        self._policy: dict = {}
        self._ready = False
        self._heard = 0.0  # time.monotonic() of the stream's last line
        self._heartbeat = 1.0
        self._touch_interval = 5.0
        self._last_id: Optional[str] = None
        self._ready_event = threading.Event()
        self._stop = threading.Event()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._touches: "queue.Queue" = queue.Queue(maxsize=1024)
        self._client = None
        self.stats = {"hits": 0, "misses": 0, "drops": 0, "resets": 0, "connects": 0, "touches": 0}

    # --- the client's side -------------------------------------------------

    def start(self, client) -> None:
        """Starts the stream and touch threads for a sync Client."""
        self._client = client
        threading.Thread(target=self._stream_loop, name="sessiond-changes", daemon=True).start()
        threading.Thread(target=self._touch_loop, name="sessiond-touches", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._set_ready(False)
        conn = self._conn
        if conn is not None:
            try:
                conn.sock and conn.sock.shutdown(2)
            except OSError:
                pass
        try:
            self._touches.put_nowait(None)
        except queue.Full:
            pass

    def wait_ready(self, timeout: float) -> None:
        """Blocks until the stream has caught up (for tests and warm-up)."""
        if not self._ready_event.wait(timeout):
            raise TimeoutError("sessiond: the changes stream is not ready")

    @property
    def serving(self) -> bool:
        """True while hits may be served: connected, caught up, heard from lately."""
        return self._ready and time.monotonic() - self._heard < 3 * self._heartbeat

    def epoch(self) -> int:
        return self._epoch

    def lookup(self, token: str, csrf_token: Optional[str], max_auth_age: Optional[int],
               device: Optional[dict], min_aal: Optional[int] = None,
               max_factor_age: Optional[dict] = None) -> Optional[dict]:
        """The cached answer for a verify, or None: go to sessiond."""
        if not self.serving:
            return None
        key = _key(token)
        now = self.clock()
        with self._lock:
            e = self._entries.get(key)
            if e is None:
                self.stats["misses"] += 1
                return None
            if not self._allowed(e, now, csrf_token, max_auth_age, device, min_aal, max_factor_age):
                self.stats["misses"] += 1
                return None
            self._entries.move_to_end(key)
            interval = touch_every(self._touch_interval, e.idle_timeout)
            touch = self._policy.get("rolling", True) and now - e.touched >= interval
            if touch:
                e.touched = now
            self.stats["hits"] += 1
            answer = e.answer
        if touch:
            try:
                self._touches.put_nowait((token, dict(e.device)))
            except queue.Full:
                pass
        # Two levels copied: the caller may change the session dict; data is cloned by the middleware.
        return dict(answer, session=dict(answer["session"]))

    def _allowed(self, e: _Entry, now: float, csrf_token, max_auth_age, device, min_aal=None,
                 max_factor_age=None) -> bool:
        if not self._assured(e, now, min_aal, max_factor_age):
            return False
        if e.expires is None or now >= e.expires or (e.idle is not None and now >= e.idle):
            return False
        if max_auth_age is not None and (e.auth_time is None or now - e.auth_time > max_auth_age):
            return False
        if csrf_token is not None and not hmac.compare_digest(_digest(csrf_token), e.csrf):
            return False
        binding = self._policy.get("binding") or {}
        device = device or {}
        for field, mode in (("ip", binding.get("ip", "off")), ("user_agent", binding.get("user_agent", "off"))):
            if mode != "off" and device.get(field) != e.device.get(field):
                return False
        return True

    def _assured(self, e: _Entry, now: float, min_aal, max_factor_age) -> bool:
        """The step-up checks verify applies: the policy's min_aal and the call's,
        each method of max_factor_age proved at most that many seconds ago.
        Anything sessiond would refuse as invalid goes to sessiond too."""
        need = self._policy.get("min_aal") or 1
        if not isinstance(need, int) or need > 2:
            return False  # a level this version does not know: let sessiond decide
        if min_aal is not None:
            if not isinstance(min_aal, int) or isinstance(min_aal, bool) or min_aal not in (1, 2):
                return False
            need = max(need, min_aal)
        if e.aal < need:
            return False
        for method, age in (max_factor_age or {}).items():
            if method not in AMR_METHODS or not isinstance(age, int) or isinstance(age, bool) or age < 0:
                return False
            at = e.factors.get(method)
            if at is None or now - at > age:
                return False
        return True

    def store(self, token: str, csrf_token: Optional[str], device: Optional[dict], answer: dict, epoch: int) -> None:
        """Keeps a network verify's answer, unless anything was dropped since it began."""
        if not isinstance(answer, dict) or "session" not in answer:
            return
        if answer.get("token") or answer.get("binding_mismatch"):
            # A re-signed token (the cookie changes: nothing to keep under the old
            # one), or a device sessiond reports as changed (it reports each verify).
            return
        size = len(json.dumps(answer)) + 256
        if size > self.max_bytes:
            return
        key = _key(token)
        with self._lock:
            if epoch != self._epoch:
                return
            self._remove(key)
            e = _Entry(answer, device, size, self.clock())
            self._entries[key] = e
            self._by_sid[e.sid] = key
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._remove(next(iter(self._entries)))

    def failed(self, token: str, err) -> None:
        """A network verify failed: a session-ended answer removes the entry."""
        if getattr(err, "session_ended", False):
            self.forget_token(token)

    # --- drops -------------------------------------------------------------

    def _remove(self, key: str) -> None:
        e = self._entries.pop(key, None)
        if e is not None:
            self._bytes -= e.size
            if self._by_sid.get(e.sid) == key:
                del self._by_sid[e.sid]

    def forget_token(self, token: str) -> None:
        with self._lock:
            self._epoch += 1
            self._remove(_key(token))

    def forget_sessions(self, ids) -> None:
        with self._lock:
            self._epoch += 1
            for sid in ids:
                key = self._by_sid.get(sid)
                if key is not None:
                    self._remove(key)
            self.stats["drops"] += 1

    def forget_user(self, user_id: str, except_id: Optional[str] = None) -> None:
        if user_id is None:
            return self.clear()
        with self._lock:
            self._epoch += 1
            for key in [k for k, e in self._entries.items() if e.user_id == user_id and e.sid != except_id]:
                self._remove(key)
            self.stats["drops"] += 1

    def forget_acting(self, user_id: str) -> None:
        """Drops the user's impersonated sessions (those with an actor)."""
        with self._lock:
            self._epoch += 1
            for key in [k for k, e in self._entries.items()
                        if e.user_id == user_id and e.answer["session"].get("actor") is not None]:
                self._remove(key)
            self.stats["drops"] += 1

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._by_sid.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return True  # an empty cache is still a cache

    # --- the stream ----------------------------------------------------------

    def _set_ready(self, ready: bool) -> None:
        self._ready = ready
        if ready:
            self._ready_event.set()
        else:
            self._ready_event.clear()

    def _stream_loop(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._read_stream()
            except Exception:  # any failure is "the stream is down": reconnect
                pass
            finally:
                self._set_ready(False)
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()
            if time.monotonic() - started > 10:
                backoff = 0.05  # it ran a while: reconnect at once
            self._stop.wait(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 5.0)

    def _read_stream(self) -> None:
        c = self._client
        pool = c._pool
        conn = pool._dial()
        conn.timeout = 3 * max(self._heartbeat, 1.0)
        self._conn = conn
        headers = {"Authorization": f"Bearer {c.api_key}", "Accept": "text/event-stream", "User-Agent": c.user_agent}
        if self._last_id:
            headers["Last-Event-ID"] = self._last_id
        conn.request("GET", pool._base + "/v1/changes", headers=headers)
        res = conn.getresponse()
        if res.status != 200:
            res.read()
            raise ConnectionError(f"GET /v1/changes: HTTP {res.status}")
        self.stats["connects"] += 1
        event, data, ident = "", [], None
        while not self._stop.is_set():
            raw = res.readline(1 << 20)
            if not raw:
                raise ConnectionError("the stream ended")
            self._heard = time.monotonic()
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if event or data:
                    self._frame(event or "message", "\n".join(data), ident)
                event, data, ident = "", [], None
            elif line.startswith(":"):
                continue  # ping
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    ident = value

    def _frame(self, event: str, data: str, ident: Optional[str]) -> None:
        try:
            d = json.loads(data) if data else {}
        except ValueError:
            d = None
        if not isinstance(d, dict):
            # A frame this client cannot read could be a revocation: start over.
            self.clear()
            raise ConnectionError("unreadable frame")
        if event == "sessions":
            self.forget_sessions(d.get("ids") or [])
        elif event == "user":
            self.forget_user(d.get("user_id"), d.get("except"))
        elif event == "tenant":
            self.clear()
            if isinstance(d.get("policy"), dict):
                self._policy = d["policy"]
            elif d.get("reason") == "policy":
                # The policy changed but the frame does not say to what (sessiond
                # lost the frame that did): serve nothing until the next ready
                # frame, which carries the policy, and reconnect to get it.
                if ident:
                    self._last_id = ident
                raise ConnectionError("the policy changed; reconnecting for it")
        elif event == "reset":
            self.stats["resets"] += 1
            self.clear()
        elif event == "ready":
            if isinstance(d.get("policy"), dict):
                self._policy = d["policy"]
            self._heartbeat = max(d.get("heartbeat_ms", 1000), 100) / 1000
            self._touch_interval = max(d.get("touch_interval_ms", 5000), 0) / 1000
            if self._conn is not None and self._conn.sock is not None:
                self._conn.sock.settimeout(3 * self._heartbeat)
            self._set_ready(True)
        else:
            # An event this version does not know may make entries wrong.
            self.clear()
        if ident:
            self._last_id = ident

    # --- touches -------------------------------------------------------------

    def _touch_loop(self) -> None:
        while not self._stop.is_set():
            item = self._touches.get()
            if item is None:
                return
            token, device = item
            epoch = self.epoch()
            try:
                answer = self._client._call("verify", body=self._client._verify_body(token, device=device or None))
            except Exception as e:  # noqa: BLE001 - a failed touch only matters if the session ended
                self.failed(token, e)
                continue
            self.stats["touches"] += 1
            self.store(token, None, device, answer, epoch)
