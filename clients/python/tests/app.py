"""The seed tutorial's app as a plain WSGI app on sessiond.SessionMiddleware
(the Python twin of examples/express-app), used by the scenario tests."""

from __future__ import annotations

import html
import urllib.parse

from sessiond import Client, SessionMiddleware, get_session, require_login, require_recent_auth

USERS = {"alice": "correct-horse", "bob": "battery-staple", "carol": "staple-horse"}  # demo only


def page(start_response, status, title, body="", headers=()):
    start_response(status, [("Content-Type", "text/html; charset=utf-8"), *headers])
    t = html.escape(title)
    return [f"<!doctype html><title>{t}</title><h1>{t}</h1>{body}".encode()]


def redirect(start_response, location):
    start_response("303 See Other", [("Location", location)])
    return [b""]


def form(environ, action, fields, label):
    token = html.escape(get_session(environ).csrf_token or "")
    return f'<form method="post" action="{action}"><input type="hidden" name="_csrf" value="{token}">{fields}<button>{label}</button></form>'


def posted(environ) -> dict:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode() if length else ""
    return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


CREDENTIALS = '<input name="username"><input name="password" type="password">'
must_login = require_login(lambda environ, start_response: redirect(start_response, "/login"))


def home(environ, start_response):
    s = get_session(environ)
    s.data["views"] = s.data.get("views", 0) + 1
    s.save()
    who = html.escape(s.user_id or "visitor")
    return page(start_response, "200 OK", "Home", f'<p>Hello {who}, view <b id="views">{s.data["views"]}</b>.</p>')


def login_form(environ, start_response):
    return page(start_response, "200 OK", "Log in", form(environ, "/login", CREDENTIALS, "Log in"))


def login(environ, start_response):
    f = posted(environ)
    if USERS.get(f.get("username")) != f.get("password") or not f.get("password"):
        return page(start_response, "401 Unauthorized", "Wrong username or password")
    get_session(environ).login(f["username"])
    return redirect(start_response, "/profile")


@must_login
def profile(environ, start_response):
    s = get_session(environ)
    items = "".join(
        f'<li class="device{" current" if d["current"] else ""}">{html.escape(d["device"].get("user_agent", ""))}</li>'
        for d in s.devices())
    body = (f'<p id="name">{html.escape(s.data.get("name", ""))}</p><p id="email">{html.escape(s.data.get("email", ""))}</p>'
            + form(environ, "/profile", '<input name="name">', "Save") + f"<ul>{items}</ul>")
    return page(start_response, "200 OK", f"Profile of {s.user_id}", body)


@must_login
def save_profile(environ, start_response):
    s = get_session(environ)
    s.data["name"] = posted(environ).get("name", "")[:100]
    s.save()
    return redirect(start_response, "/profile")


@must_login
def logout_others(environ, start_response):
    ended = get_session(environ).logout_other_devices()
    return page(start_response, "200 OK", "Other devices logged out", f'<p id="ended">{len(ended)}</p>')


def make_app(url: str, api_key: str, reauth_max_age: int = 1, cache: bool = False):
    def confirm(environ, start_response):
        return page(start_response, "403 Forbidden", "Confirm your password", form(environ, "/reauth", CREDENTIALS, "Confirm"))

    @must_login
    @require_recent_auth(reauth_max_age, on_required=confirm)
    def change_email(environ, start_response):
        s = get_session(environ)
        s.data["email"] = posted(environ).get("email", "")[:254]
        s.save()
        return redirect(start_response, "/profile")

    @must_login
    def reauth(environ, start_response):
        s, f = get_session(environ), posted(environ)
        if f.get("username") != s.user_id or USERS.get(s.user_id) != f.get("password"):
            return page(start_response, "401 Unauthorized", "Wrong password")
        s.reauthenticate()
        return redirect(start_response, "/profile")

    def logout(environ, start_response):
        get_session(environ).destroy()
        return redirect(start_response, "/")

    routes = {
        ("GET", "/"): home, ("GET", "/login"): login_form, ("POST", "/login"): login,
        ("GET", "/profile"): profile, ("POST", "/profile"): save_profile, ("POST", "/logout-others"): logout_others,
        ("POST", "/email"): change_email, ("POST", "/reauth"): reauth, ("POST", "/logout"): logout,
    }

    def app(environ, start_response):
        handler = routes.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")))
        if handler is None:
            return page(start_response, "404 Not Found", "Not found")
        return handler(environ, start_response)

    # Plain HTTP in the tests: secure=False. In production keep the default (Secure).
    return SessionMiddleware(app, Client(url, api_key, timeout=3, cache=cache or None), secure=False)
