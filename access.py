"""Who each request is, and what the page's routes let it reach: the server's users and their roles, and an ASGI guard
in front of Gradio's routes for sharing one server on a LAN.

An identity is a logged-in user (`user:NAME`), else this browser (a random cookie the guard hands out:
`browser:<digest>`), else the client's address (`addr:IP`). The API (api/) names its callers the same way. The guard:
- with logins, answers nothing but the login page and its assets to a request without them, and the login page
  carries no API schema;
- binds a Gradio session hash to the identity that used it first: no other identity reads its result stream, cancels
  its events or sends on it;
- serves a file of Gradio's cache (results, previews, uploads) only to an identity it was handed to, or to an admin,
  and takes one as an input only from such an identity;
- refuses Gradio's URL-fetching routes (`file=http://...`, `proxy=`): the server fetches nothing for the page.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Set, Tuple

ROLES = ("admin", "user")
BROWSER_COOKIE = "img2img-browser"
API_PATHS = ("/sdapi/", "/docs", "/openapi.json", "/health")
# what the login page needs before anyone has logged in (Gradio itself checks the login on /config and /info)
PUBLIC_PATHS = {"/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json",
                "/config", "/config/", "/gradio_api/login_check", "/gradio_api/login_check/", "/gradio_api/theme.css",
                "/gradio_api/info", "/gradio_api/info/"}
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
REFUSED_PREFIXES = ("/gradio_api/proxy=", "/monitoring", "/gradio_api/vibe", "/gradio_api/undo-vibe",
                    "/gradio_api/dev/", "/gradio_api/run-history", "/gradio_api/process_recording")
# requests whose JSON body names the session they act on
SESSION_BODIES = ("/gradio_api/queue/join", "/gradio_api/cancel", "/gradio_api/call/", "/gradio_api/run/",
                  "/gradio_api/api/")
FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/")
REMEMBERED = 200_000  # sessions and handed-out files remembered, the oldest forgotten first


def parse_credentials(text: str) -> Dict[str, str]:
    """"user:pass,user2:pass2" -> {user: pass}; a password may contain colons."""
    credentials = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        user, sep, password = pair.partition(":")
        if not sep or not user:
            raise SystemExit(f"credentials must read user:password, not {pair!r}")
        credentials[user] = password
    return credentials


def read_users_file(path: str) -> Dict[str, Tuple[str, str]]:
    """A users file: one user a line, `ROLE NAME:PASSWORD` (role admin or user; a bare `NAME:PASSWORD` is a user),
    `#` comments and blank lines ignored. -> {name: (password, role)}"""
    users: Dict[str, Tuple[str, str]] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise SystemExit(f"cannot read the users file {path}: {e.strerror}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        role, _, login = line.partition(" ") if line.split(" ", 1)[0] in ROLES else ("user", "", line)
        name, sep, password = login.strip().partition(":")
        if not sep or not name or not password:
            raise SystemExit(f"{path} line {number}: a user reads `admin NAME:PASSWORD` or `user NAME:PASSWORD`")
        if name in users:
            raise SystemExit(f"{path} line {number}: {name} is listed twice")
        users[name] = (password, role)
    return users


@dataclass(frozen=True)
class Logins:
    """Who may log in to the page and to the API (None: nobody needs to), and who of them is an admin."""
    page: Optional[Dict[str, str]]
    api: Optional[Dict[str, str]]
    admins: frozenset

    @classmethod
    def from_flags(cls, gradio_auth: Optional[str], api_auth: Optional[str], users_file: Optional[str],
                   admins: Optional[str]) -> "Logins":
        """`--gradio-auth` guards the page, `--api-auth` the API, and each the other when it is alone: neither ever
        leaves the other open. A users file's users log in to both."""
        users = read_users_file(users_file) if users_file else {}
        both = {name: password for name, (password, _) in users.items()}
        page = parse_credentials(gradio_auth or api_auth or "")
        api = parse_credentials(api_auth or gradio_auth or "")
        named = {n.strip() for n in (admins or "").split(",") if n.strip()}
        roles = {name for name, (_, role) in users.items() if role == "admin"}
        return cls(dict(page, **both) or None, dict(api, **both) or None, frozenset(named | roles))


def is_loopback(host: Optional[str]) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Caller:
    owner: str
    admin: bool
    user: Optional[str]
    browser_cookie: Optional[str]  # the cookie this browser already has


class Remembered:
    """A bounded map, key -> set of owners, that forgets its oldest keys first; safe across threads."""

    def __init__(self, size: int = REMEMBERED):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def add(self, key: str, owner: str) -> None:
        with self.lock:
            self.items.setdefault(key, set()).add(owner)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def owners(self, key: str) -> Set[str]:
        with self.lock:
            return set(self.items.get(key, ()))


def files_named(payload, cache_dir: str) -> Iterable[str]:
    """Every file of the (real) cache folder that a JSON answer (an event, an upload's answer) names, by path or URL."""
    if isinstance(payload, dict):
        payload = list(payload.values())
    if isinstance(payload, list):
        for item in payload:
            yield from files_named(item, cache_dir)
    elif isinstance(payload, str):
        path = payload.split("/gradio_api/file=", 1)[1] if "/gradio_api/file=" in payload else payload
        if path.startswith(os.sep) and os.path.realpath(path).startswith(cache_dir + os.sep):
            yield os.path.realpath(path)


class PageGuard:
    """ASGI middleware: the identity of each request to the page's routes (in `request.state.owner` / `.admin` for
    the page's handlers), and the checks in this module's docstring. The API's routes pass through: they check their
    own Basic auth."""

    def __init__(self, app, gradio_app: Callable[[], object], logins: bool, admins: Iterable[str], cache_dir: str):
        self.app, self.gradio_app, self.logins, self.admins = app, gradio_app, logins, frozenset(admins)
        self.cache_dir = os.path.realpath(cache_dir)
        self.cache_names = {cache_dir.encode(), self.cache_dir.encode()}  # as answers may spell it
        self.sessions = Remembered()  # session hash -> the identity that used it first
        self.handed = Remembered()  # cache file -> the identities it was handed to

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(API_PATHS):
            return await self.app(scope, receive, send)
        caller = self.identify(scope)
        scope.setdefault("state", {}).update(owner=caller.owner, admin=caller.admin)
        refusal = self.refusal(scope, caller)
        if refusal:
            return await answer(send, *refusal)
        receive, session, payload = await self.session_named(scope, receive)
        if not caller.admin and any(caller.owner not in self.handed.owners(file)
                                    for file in files_named(payload, self.cache_dir)):
            return await answer(send, 403, "a file named in this request is not one of yours (upload it)")
        if session is not None:
            first = self.sessions.owners(session)
            if first and caller.owner not in first:
                return await answer(send, 403, "this session belongs to another user")
            self.sessions.add(session, caller.owner)
        send = self.cookie_setter(send, caller)
        if self.logins and caller.user is None and path == "/":
            return await self.login_page(scope, receive, send)
        if path.startswith("/gradio_api/") and not path.startswith(FILE_PREFIXES):
            # answers read as sent (not compressed), so that the files they hand out are noted
            scope, send = plain(scope), self.recorder(send, caller.owner)
        await self.app(scope, receive, send)

    def identify(self, scope) -> Caller:
        from starlette.requests import HTTPConnection
        connection = HTTPConnection(scope)
        cookies = connection.cookies
        gradio = self.gradio_app()
        token = cookies.get(f"access-token-{gradio.cookie_id}") or cookies.get(
            f"access-token-unsecure-{gradio.cookie_id}")
        user = gradio.tokens.get(token) if token else None
        host = connection.client.host if connection.client else None
        browser = cookies.get(BROWSER_COOKIE)
        if user is not None:
            owner = "user:" + user
        elif browser:
            owner = "browser:" + hashlib.sha256(browser.encode()).hexdigest()[:16]
        else:
            owner = f"addr:{host}"
        admin = user in self.admins if self.logins else is_loopback(host)
        return Caller(owner, admin, user, browser)

    def refusal(self, scope, caller: Caller) -> Optional[Tuple[int, str]]:
        path = scope["path"]
        if path.startswith(REFUSED_PREFIXES):
            return 403, "this server does not serve that route"
        if self.logins and caller.user is None and path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            return 401, "Not authenticated"
        if path.startswith(FILE_PREFIXES):
            name = path.split("file=", 1)[1] if "file=" in path else path[len("/gradio_api/file/"):]
            if "://" in name or name.startswith("//"):
                return 403, "this server does not fetch URLs for the page"
            real = os.path.realpath(name)
            inside = real.startswith(self.cache_dir + os.sep)
            if inside and not caller.admin and caller.owner not in self.handed.owners(real):
                return 404, "File not found"  # not told apart from a file that does not exist
        return None

    async def session_named(self, scope, receive):
        """The session hash a request acts on (its path, query or JSON body), the JSON body if it has one, and a
        `receive` that still yields the body."""
        path = scope["path"]
        for prefix in ("/gradio_api/heartbeat/", "/gradio_api/stream/"):
            if path.startswith(prefix) and scope["method"] == "GET":
                return receive, path[len(prefix):].split("/", 1)[0], None
        from urllib.parse import parse_qs
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash")
        if query:
            return receive, query[0], None
        if scope["method"] != "POST" or not path.startswith(SESSION_BODIES):
            return receive, None, None
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive, None, None
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        try:
            payload = json.loads(body)
        except ValueError:
            return replay, None, None
        named = payload.get("session_hash") if isinstance(payload, dict) else None
        return replay, named if isinstance(named, str) else None, payload

    def cookie_setter(self, send, caller: Caller):
        """A browser without the guard's cookie gets one: from then on it is its own anonymous user."""
        if caller.browser_cookie:
            return send
        cookie = (f"{BROWSER_COOKIE}={secrets.token_urlsafe(24)}; Path=/; HttpOnly; SameSite=Strict").encode()

        async def with_cookie(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + [(b"set-cookie", cookie)])
            await send(message)
        return with_cookie

    def recorder(self, send, owner: str):
        """Notes every cache file a JSON or event-stream answer hands to `owner`."""
        state = {"record": False, "buffer": b""}

        async def recording(message):
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                state["record"] = kind.startswith((b"application/json", b"text/event-stream"))
            elif message["type"] == "http.response.body" and state["record"]:
                state["buffer"] += message.get("body", b"")
                *complete, state["buffer"] = state["buffer"].split(b"\n\n") if message.get("more_body") else \
                    (state["buffer"].split(b"\n\n") + [b""])
                for part in complete:
                    self.record(part, owner)
            await send(message)
        return recording

    def record(self, part: bytes, owner: str) -> None:
        if not any(name in part for name in self.cache_names):
            return
        for line in part.split(b"\n"):
            text = line[5:] if line.startswith(b"data:") else line
            try:
                payload = json.loads(text)
            except ValueError:
                continue
            for path in files_named(payload, self.cache_dir):
                self.handed.add(path, owner)

    async def login_page(self, scope, receive, send):
        """Gradio's login page, less the API schema it embeds for everyone (uncompressed, to be edited)."""
        start, chunks = {}, []

        async def keep(message):
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))
        await self.app(plain(scope), receive, keep)
        body = without_api_schema(b"".join(chunks))
        start["headers"] = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"] + \
            [(b"content-length", str(len(body)).encode())]
        await send(start)
        await send({"type": "http.response.body", "body": body})


def plain(scope) -> dict:
    """The request, asking for an uncompressed answer."""
    return dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"])


def without_api_schema(page: bytes) -> bytes:
    marker = b"window.gradio_api_info = "
    at = page.find(marker)
    if at < 0:
        return page
    end = page.find(b";</script>", at)
    return page[:at + len(marker)] + b'{"named_endpoints": {}, "unnamed_endpoints": {}}' + page[end:]


async def answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
