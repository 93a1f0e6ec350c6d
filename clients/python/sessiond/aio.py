"""An asyncio client of the sessiond REST API on httpx.AsyncClient (pooled
HTTP/1.1 keep-alive connections). Needs httpx: ``pip install "sessiond[async]"``.

    async with AsyncClient(url, api_key) as sd:
        v = await sd.verify(token)
"""

from __future__ import annotations

from typing import Any, Optional

from ._version import __version__
from .client import SessiondError, _answer, _Operations, _same

__all__ = ["AsyncClient"]


class AsyncClient(_Operations):
    """The asyncio twin of Client: the same methods, each a coroutine, the same
    answers and SessiondError codes. Use one per event loop and close it
    (``await aclose()`` or ``async with``). ``cache`` as in Client: hits are
    answered without awaiting anything; the cache's stream and touches run
    on their own thread with a sync Client of the same URL and key."""

    def __init__(self, url: str, api_key: str, timeout: float = 5.0,
                 user_agent: str = f"sessiond-python/{__version__}", max_connections: int = 100,
                 cache: Any = None, transport: Any = None):
        import httpx  # imported here so the sync client needs no dependency

        self.url, self.api_key, self.timeout, self.user_agent = url, api_key, timeout, user_agent
        self._setup()
        # No redirects, no proxies or certificates from the environment: calls go to sessiond only.
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, follow_redirects=False, trust_env=False, http2=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport)
        self._errors = (httpx.TransportError, OSError)
        self.cache = None
        if cache:
            from .cache import Cache
            from .client import Client
            self.cache = Cache() if cache is True else cache
            self._sync = Client(url, api_key, timeout=timeout, user_agent=user_agent)
            self.cache.start(self._sync)

    async def verify(self, token: str, csrf_token: Optional[str] = None, max_auth_age: Optional[int] = None,
                     device: Optional[dict] = None, min_aal: Optional[int] = None,
                     max_factor_age: Optional[dict] = None) -> dict:
        """As Client.verify; a cache hit answers at once."""
        body = self._verify_body(token, csrf_token, max_auth_age, device, min_aal, max_factor_age)
        if not self.cache:
            return await self._call("verify", body=body)
        hit = self.cache.lookup(token, csrf_token, max_auth_age, device, min_aal, max_factor_age)
        if hit is not None:
            return hit
        epoch = self.cache.epoch()
        try:
            answer = await self._call("verify", body=body)
        except SessiondError as e:
            self.cache.failed(token, e)
            raise
        self.cache.store(token, csrf_token, device, answer, epoch)
        return answer

    async def user_sessions(self, user_id: str, max_sessions: int = 10_000) -> list:
        """All of the user's live sessions (devices), oldest first, following every page."""
        out, cursor = [], None
        while True:
            page = await self.user_sessions_page(user_id, cursor=cursor, limit=200)
            out += page["sessions"]
            cursor = page.get("next_cursor")
            if not cursor or len(out) >= max_sessions:
                return out

    async def _call(self, name: str, params=(), body=None, query=None, headers=None, pick=_same):
        op, path, data, req_headers = self._prepare(name, params, body, query, headers)
        try:
            res = await self._http.request(op.method, path, content=data, headers=req_headers)
        except self._errors as e:
            raise SessiondError("unavailable", 0, f"{op.method} {op.path}: sessiond unreachable: {e!r}") from e
        return pick(_answer(op, res.status_code, res.headers, res.content))

    async def aclose(self) -> None:
        """Stops the cache's stream (if any) and closes the connections."""
        if self.cache:
            self.cache.stop()
            self._sync.close()
        await self._http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
