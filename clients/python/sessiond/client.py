"""A standard-library client of the sessiond REST API (urllib, no dependencies)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "Client",
    "SessiondError",
    "OPERATIONS",
    "SESSION_ENDED_CODES",
    "browser_status",
]

#: Codes that mean "this session is over": clear the cookie, treat the user as logged out.
SESSION_ENDED_CODES = frozenset(
    {"session_invalid", "session_expired_idle", "session_expired_absolute", "binding_mismatch"}
)


class SessiondError(Exception):
    """Every failure of a sessiond call.

    Switch on ``code``, never on ``http_status``: ``unauthorized`` (the API key
    is bad) and ``session_invalid`` (the user's session is over) are both 401,
    and only the second means "log the user out". A network error or timeout
    has code ``unavailable`` and http_status 0, like sessiond's own 503.
    """

    def __init__(self, code: str, http_status: int, detail: str, retry_after: Optional[int] = None,
                 request_id: Optional[str] = None, problem: Optional[dict] = None):
        super().__init__(f"sessiond: {code}: {detail}")
        self.code = code
        self.http_status = http_status
        self.detail = detail
        self.retry_after = retry_after
        self.request_id = request_id
        self.problem = problem

    @property
    def session_ended(self) -> bool:
        """True when the user's session is over (invalid, expired, binding mismatch), and only then."""
        return self.code in SESSION_ENDED_CODES

    @property
    def unavailable(self) -> bool:
        """True when sessiond was unreachable or said 503: retry later, log nobody out."""
        return self.code == "unavailable"


def browser_status(err: SessiondError) -> int:
    """The status a browser gets when a sessiond call fails: 503 when sessiond is
    down, 500 when the API key is bad (never sessiond's own 401)."""
    return {
        "unavailable": 503,
        "rate_limited": 429,
        "csrf_mismatch": 403,
        "reauth_required": 403,
        "session_limit_reached": 409,
        "version_conflict": 409,
        "payload_too_large": 413,
    }.get(err.code, 500)


@dataclass(frozen=True)
class Operation:
    """One API call: the tests check each against api/openapi.yaml."""

    method: str
    path: str
    status: int
    sends: tuple = ()
    reads: tuple = ()
    query: tuple = ()
    content_type: str = "application/json"


OPERATIONS = {
    "create_session": Operation("POST", "/v1/sessions", 201,
                                ("user_id", "data", "device", "idle_timeout", "absolute_timeout"),
                                ("token", "csrf_token", "session", "evicted")),
    "verify": Operation("POST", "/v1/sessions/verify", 200, ("token", "csrf_token", "max_auth_age", "device"),
                        ("session", "token", "csrf_token", "binding_mismatch")),
    "regenerate": Operation("POST", "/v1/sessions/regenerate", 200, ("token", "user_id", "reauthenticated"),
                            ("token", "csrf_token", "session", "evicted")),
    "revoke_token": Operation("POST", "/v1/sessions/revoke", 204, ("token",)),
    "get_session": Operation("GET", "/v1/sessions/{session_id}", 200, reads=("id", "user_id", "data", "version")),
    "patch_data": Operation("PATCH", "/v1/sessions/{session_id}", 200, reads=("id", "data", "version"),
                            content_type="application/merge-patch+json"),
    "revoke_session": Operation("DELETE", "/v1/sessions/{session_id}", 204),
    "user_sessions": Operation("GET", "/v1/users/{user_id}/sessions", 200, reads=("sessions", "next_cursor"),
                               query=("cursor", "limit")),
    "revoke_user_sessions": Operation("DELETE", "/v1/users/{user_id}/sessions", 200, reads=("revoked",),
                                      query=("except",)),
    "keys": Operation("GET", "/v1/keys", 200, reads=("keys",)),
    "rotate_key": Operation("POST", "/v1/keys/rotate", 201, ("grace_period",), ("kid", "state")),
    "retire_key": Operation("POST", "/v1/keys/{kid}/retire", 200, reads=("kid", "state")),
    "create_api_key": Operation("POST", "/v1/api-keys", 201, ("name", "scopes"), ("id", "secret")),
    "revoke_api_key": Operation("DELETE", "/v1/api-keys/{api_key_id}", 204),
    "create_tenant": Operation("POST", "/v1/tenants", 201, ("name",), ("tenant", "api_key")),
}


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


@dataclass
class Client:
    """Calls one sessiond with one credential (a tenant API key, or the operator
    token for create_tenant). Thread-safe. Every method returns the parsed
    JSON answer (dicts as in api/openapi.yaml) or raises SessiondError."""

    url: str
    api_key: str
    timeout: float = 5.0
    user_agent: str = "sessiond-python/0.1"
    _opener: Any = field(default=None, repr=False, compare=False, init=False)

    def __post_init__(self):
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"sessiond: base URL {self.url!r} must be http(s)://host[:port]")
        if not self.api_key:
            raise ValueError("sessiond: an API key is required")
        self.url = self.url.rstrip("/")
        # No redirects, no proxies from the environment: calls go to sessiond only.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)

    # --- sessions ---------------------------------------------------------

    def create_session(self, user_id: Optional[str] = None, data: Optional[dict] = None,
                       device: Optional[dict] = None, idle_timeout: Optional[int] = None,
                       absolute_timeout: Optional[int] = None) -> dict:
        """Starts a session; with user_id it is a login (auth_time is set)."""
        return self._call("create_session", body=_drop_none(dict(
            user_id=user_id, data=data, device=device, idle_timeout=idle_timeout, absolute_timeout=absolute_timeout)))

    def verify(self, token: str, csrf_token: Optional[str] = None, max_auth_age: Optional[int] = None,
               device: Optional[dict] = None) -> dict:
        """Verifies a token (any string, as found in a cookie). When the answer has
        ``token``, sessiond re-signed it after a key rotation: replace the cookie."""
        return self._call("verify", body=_drop_none(dict(
            token=token, csrf_token=csrf_token, max_auth_age=max_auth_age, device=device)))

    def regenerate(self, token: str, user_id: Optional[str] = None, reauthenticated: bool = False) -> dict:
        """New token, id and CSRF token for the session; the old token dies at once."""
        body = _drop_none(dict(token=token, user_id=user_id))
        if reauthenticated:
            body["reauthenticated"] = True
        return self._call("regenerate", body=body)

    def revoke_token(self, token: str) -> None:
        """Ends the session of a token (logout); idempotent, junk included."""
        self._call("revoke_token", body={"token": token})

    def get_session(self, session_id: str) -> dict:
        return self._call("get_session", params=[session_id])

    def patch_data(self, session_id: str, patch: dict, if_version: Optional[int] = None) -> dict:
        """Applies an RFC 7396 merge patch to the session's data (None members are removed)."""
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else {}
        return self._call("patch_data", params=[session_id], body=patch, headers=headers)

    def revoke_session(self, session_id: str) -> None:
        self._call("revoke_session", params=[session_id])

    def user_sessions_page(self, user_id: str, cursor: Optional[str] = None, limit: Optional[int] = None) -> dict:
        """One page of the user's live sessions (devices), oldest first:
        ``{"sessions": [...], "next_cursor": ""}`` ("" on the last page)."""
        return self._call("user_sessions", params=[user_id], query=_drop_none({"cursor": cursor, "limit": limit}))

    def user_sessions(self, user_id: str, max_sessions: int = 10_000) -> list:
        """All of the user's live sessions (devices), oldest first, following every page."""
        out, cursor = [], None
        while True:
            page = self.user_sessions_page(user_id, cursor=cursor, limit=200)
            out += page["sessions"]
            cursor = page.get("next_cursor")
            if not cursor or len(out) >= max_sessions:
                return out

    def revoke_user_sessions(self, user_id: str, except_id: Optional[str] = None) -> list:
        """Ends every session of the user but except_id ("log out other devices"); returns the ids ended."""
        query = {"except": except_id} if except_id else None
        return self._call("revoke_user_sessions", params=[user_id], query=query)["revoked"]

    # --- administration (admin scope) and operator -------------------------

    def keys(self) -> list:
        return self._call("keys")["keys"]

    def rotate_key(self, grace_period: Optional[int] = None) -> dict:
        return self._call("rotate_key", body=_drop_none({"grace_period": grace_period}))

    def retire_key(self, kid: str) -> dict:
        return self._call("retire_key", params=[kid])

    def create_api_key(self, name: str, scopes=("sessions",)) -> dict:
        return self._call("create_api_key", body={"name": name, "scopes": list(scopes)})

    def revoke_api_key(self, key_id: str) -> None:
        self._call("revoke_api_key", params=[key_id])

    def create_tenant(self, name: str) -> dict:
        return self._call("create_tenant", body={"name": name})

    # --- transport --------------------------------------------------------

    def _call(self, name: str, params=(), body=None, query=None, headers=None):
        op = OPERATIONS[name]
        path = op.path
        for p in params:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + urllib.parse.quote(str(p), safe="") + path[end + 1:]
        if query:
            path += "?" + urllib.parse.urlencode(query)
        data = None
        req_headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": self.user_agent,
        }
        req_headers.update(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            req_headers["Content-Type"] = op.content_type
        req = urllib.request.Request(self.url + path, data=data, headers=req_headers, method=op.method)
        try:
            with self._opener.open(req, timeout=self.timeout) as res:
                raw = res.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raise _problem(op, e) from None
        except (urllib.error.URLError, OSError, socket.timeout) as e:
            reason = getattr(e, "reason", e)
            raise SessiondError("unavailable", 0, f"{op.method} {op.path}: sessiond unreachable: {reason}") from e
        except ValueError as e:
            raise SessiondError("internal", 200, f"{op.method} {op.path}: invalid JSON") from e


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _problem(op: Operation, e: urllib.error.HTTPError) -> SessiondError:
    try:
        raw = e.read()
    except OSError:
        raw = b""
    retry = e.headers.get("Retry-After", "") if e.headers else ""
    retry_after = int(retry) if retry.isdigit() else None
    problem = None
    if "json" in (e.headers.get("Content-Type", "") if e.headers else ""):
        try:
            p = json.loads(raw)
            if isinstance(p, dict) and isinstance(p.get("code"), str):
                problem = p
        except ValueError:
            pass
    if problem:
        code, detail = problem["code"], problem.get("detail") or problem.get("title", "")
    else:
        # A 5xx without a problem body (a proxy's 502) is an outage as far as callers know.
        code, detail = ("unavailable" if e.code >= 500 else "internal"), f"HTTP {e.code}"
    return SessiondError(code, e.code, f"{op.method} {op.path}: {detail}", retry_after,
                         (problem or {}).get("request_id") or (e.headers.get("X-Request-Id") if e.headers else None),
                         problem)
