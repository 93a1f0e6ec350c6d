"""sessiond: clients of the sessiond REST API (sync on the standard library,
asyncio on httpx) and session middleware for WSGI (Flask, any WSGI app), ASGI
(Starlette, FastAPI) and Django.

    from sessiond import Client, SessionMiddleware, get_session
    app = SessionMiddleware(app, Client("http://127.0.0.1:8080", api_key))
"""

from ._version import __version__
from .client import AMR_METHODS, OPERATIONS, SESSION_ENDED_CODES, Client, SessiondError, aal_of, browser_status
from .webhooks import WebhookVerificationError, verify_webhook
from .wsgi import (Session, SessionMiddleware, get_session, merge_patch, require_aal, require_factor, require_login,
                   require_recent_auth)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "SessiondError",
    "OPERATIONS",
    "SESSION_ENDED_CODES",
    "browser_status",
    "AMR_METHODS",
    "aal_of",
    "SessionMiddleware",
    "Session",
    "get_session",
    "merge_patch",
    "require_login",
    "require_recent_auth",
    "require_aal",
    "require_factor",
    "verify_webhook",
    "WebhookVerificationError",
]


def __getattr__(name):
    # AsyncClient needs httpx: imported on first use so the rest needs nothing.
    if name == "AsyncClient":
        from .aio import AsyncClient
        return AsyncClient
    raise AttributeError(f"module 'sessiond' has no attribute {name!r}")
