"""sessiond: a standard-library client of the sessiond REST API and WSGI middleware.

    from sessiond import Client, SessionMiddleware, get_session
    app = SessionMiddleware(app, Client("http://127.0.0.1:8080", api_key))
"""

from .client import OPERATIONS, SESSION_ENDED_CODES, Client, SessiondError, browser_status
from .wsgi import Session, SessionMiddleware, get_session, merge_patch, require_login, require_recent_auth

__all__ = [
    "Client",
    "SessiondError",
    "OPERATIONS",
    "SESSION_ENDED_CODES",
    "browser_status",
    "SessionMiddleware",
    "Session",
    "get_session",
    "merge_patch",
    "require_login",
    "require_recent_auth",
]
