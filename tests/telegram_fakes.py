"""A stand-in for Telegram's Bot API, reachable two ways, and builders of real update payloads.

* :class:`FakeBotApi` answers Bot API methods the way Telegram does, and is strict where Telegram
  is strict: HTML parse mode must parse, a message holds at most 4096 characters (after parsing),
  callback data at most 64 bytes. Every call is recorded with its exact parameters.
* :class:`RecordingRequest` plugs it into PTB as its HTTP transport (no sockets): most tests.
* :class:`BotApiServer` serves it over HTTP on 127.0.0.1 with real long polling, for tests that
  run ``sanad run telegram`` as its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from bot.app import App, build_app
from bot.settings import Settings
from bot.telegram_bot import build_application

TESTS = Path(__file__).resolve().parent
SEEDS = TESTS.parent / "seeds"

TOKEN = "123456789:AAF-test-token-never-logged_xyz"
BOT = {"id": 5550001, "is_bot": True, "first_name": "سند", "username": "SanadTestBot", "can_join_groups": True}
USER = {"id": 1001, "is_bot": False, "first_name": "ليلى", "language_code": "ar"}
OTHER_USER = {"id": 1002, "is_bot": False, "first_name": "Omar"}
ADMIN = {"id": 42, "is_bot": False, "first_name": "المشرف"}
PRIVATE = {"id": USER["id"], "type": "private", "first_name": USER["first_name"]}
GROUP = {"id": -1001234567890, "type": "supergroup", "title": "نادي القراءة"}
TELEGRAM_LIMIT = 4096
CALLBACK_LIMIT = 64

_update_ids = itertools.count(1)
_message_ids = itertools.count(100)


# --- Telegram's HTML parse mode, strictly ------------------------------------------------------

_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "blockquote", "a", "tg-spoiler"}
_TAG = re.compile(r"<(/?)([a-z-]+)((?:\s+[a-z-]+(?:=\"[^\"]*\")?)*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class HtmlError(ValueError):
    """Text Telegram would refuse with "can't parse entities"."""


def visible_text(markup: str) -> str:
    """What a user sees for *markup* in HTML parse mode; raises :class:`HtmlError` like Telegram."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(markup):
        char = markup[i]
        if char == "<":
            match = _TAG.match(markup, i)
            if not match or match[2] not in _TAGS:
                raise HtmlError(f"unsupported start tag at byte offset {i}: {markup[i:i + 20]!r}")
            closing, name, attributes = match[1], match[2], match[3]
            if closing:
                if not stack or stack[-1] != name:
                    raise HtmlError(f"unmatched end tag {name!r} at {i}")
                stack.pop()
            else:
                if name == "blockquote" and "blockquote" in stack:
                    raise HtmlError("nested blockquote")
                if name == "a" and 'href="' not in attributes:
                    raise HtmlError("a link without href")
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(markup, i)
            if not match:
                raise HtmlError(f"unescaped & at {i}: {markup[i:i + 10]!r}")
            out.append(html.unescape(match[0]))
            i = match.end()
        elif char == ">":
            raise HtmlError(f"unescaped > at {i}")
        else:
            out.append(char)
            i += 1
    if stack:
        raise HtmlError(f"unclosed tags {stack}")
    return "".join(out)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- the Bot API ------------------------------------------------------------------------------


@dataclass
class Call:
    """One Bot API call: method name, parameters as PTB sent them, and what was answered."""

    method: str
    params: dict[str, Any]
    result: Any = None
    ok: bool = True


@dataclass
class FakeBotApi:
    """Bot API methods answered as Telegram would, with every call recorded."""

    token: str = TOKEN
    reject_token: bool = False
    calls: list[Call] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (file_path, content)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    closed: bool = False  # set when the server stops: pending long polls return at once

    def fail_next(self, method: str, code: int = 400, description: str = "Bad Request: simulated") -> None:
        """Make the next call of *method* fail as Telegram fails it."""
        self.failures.setdefault(method, []).append((code, description))

    def add_file(self, file_id: str, name: str, content: bytes) -> None:
        # Telegram names stored files itself ("documents/file_12.txt"), keeping only the suffix.
        self.files[file_id] = (f"documents/file_{file_id}{Path(name).suffix}", content)

    def file_content(self, file_path: str) -> bytes | None:
        for path, content in self.files.values():
            if path == file_path:
                return content
        return None

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        """Parameters of every successful call of *method*, in order."""
        return [c.params for c in self.calls if c.method == method and c.ok]

    def texts(self, method: str = "sendMessage") -> list[str]:
        """What the user saw of each message sent with *method*."""
        return [visible_text(p["text"]) if p.get("parse_mode") == "HTML" else p["text"] for p in self.sent(method)]

    async def wait_for(
        self, method: str, count: int = 1, timeout: float = 10.0, where: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        """The first *count* successful calls of *method* (matching *where*), once they have happened."""
        async with asyncio.timeout(timeout):
            while True:
                found = [c for c in self.calls if c.method == method and c.ok and (where is None or where(c))]
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.01)

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API call: (HTTP status, JSON body)."""
        call = Call(method, params)
        self.calls.append(call)
        if self.failures.get(method):
            code, description = self.failures[method].pop(0)
            call.ok = False
            return code, {"ok": False, "error_code": code, "description": description}
        try:
            result = self._result(method, params)
        except HtmlError as exc:
            call.ok = False
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: can't parse entities: {exc}"}
        except ValueError as exc:
            call.ok = False
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
        except KeyError:
            call.ok = False
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        call.result = result
        return 200, {"ok": True, "result": result}

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method in ("sendMessage", "editMessageText"):
            text = params["text"]
            shown = visible_text(text) if params.get("parse_mode") == "HTML" else text
            if not shown.strip():
                raise ValueError("message text is empty")
            if utf16_length(shown) > TELEGRAM_LIMIT:
                raise ValueError("message is too long")
            self._check_markup(params.get("reply_markup"))
            message_id = params.get("message_id") or next(_message_ids)
            return self.bot_message(int(params["chat_id"]), shown, message_id, params.get("reply_markup"))
        if method == "editMessageReplyMarkup":
            self._check_markup(params.get("reply_markup"))
            return self.bot_message(int(params["chat_id"]), "…", int(params["message_id"]), params.get("reply_markup"))
        if method == "answerCallbackQuery":
            if len(params.get("text") or "") > 200:
                raise ValueError("MESSAGE_TOO_LONG")
            return True
        if method in ("setMyCommands", "deleteWebhook", "setWebhook", "sendChatAction", "deleteMyCommands"):
            if method == "setMyCommands":
                for command in params["commands"]:
                    if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]) or not command["description"]:
                        raise ValueError("BOT_COMMAND_INVALID")
            return True
        if method == "getFile":
            path, content = self.files[params["file_id"]]
            return {"file_id": params["file_id"], "file_unique_id": f"u{params['file_id']}", "file_size": len(content), "file_path": path}
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        raise KeyError(method)

    @staticmethod
    def _check_markup(markup: dict[str, Any] | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_LIMIT:
                    raise ValueError("BUTTON_DATA_INVALID")

    @staticmethod
    def bot_message(chat_id: int, text: str, message_id: int, markup: dict[str, Any] | None = None) -> dict[str, Any]:
        chat = PRIVATE | {"id": chat_id} if chat_id > 0 else GROUP | {"id": chat_id}
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": BOT, "text": text}
        if markup and "inline_keyboard" in markup:  # Telegram echoes only inline keyboards
            message["reply_markup"] = markup
        return message

    # long polling, for the HTTP server
    def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)

    async def next_updates(self, offset: int | None, timeout: float, limit: int = 100) -> list[dict[str, Any]]:
        """Updates from *offset* on, waiting up to *timeout* seconds for one, as getUpdates does."""
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self.updates and not self.closed and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.updates[:limit]


class RecordingRequest(BaseRequest):
    """PTB's HTTP transport replaced by a direct call into :class:`FakeBotApi`."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            content = self.api.file_content(unquote(url).split(f"{self.api.token}/", 1)[1])
            return (200, content) if content is not None else (404, b"Not Found")
        status, body = self.api.handle(url.rsplit("/", 1)[-1], request_data.parameters if request_data else {})
        return status, json.dumps(body).encode()


# --- the same API over HTTP, for a bot in its own process --------------------------------------

_JSON_FIELDS = {"reply_markup", "reply_parameters", "link_preview_options", "commands", "scope", "allowed_updates", "entities"}
_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "max_connections"}
_BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification"}


class BotApiServer:
    """:class:`FakeBotApi` served on 127.0.0.1 as ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> BotApiServer:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.api.closed = True
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        return not self.api.reject_token and request.match_info["token"] == self.api.token

    async def _method(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        params = {k: _decode(k, v) for k, v in params.items()}
        method = request.match_info["method"]
        if method == "getUpdates":
            self.api.calls.append(Call(method, params))
            updates = await self.api.next_updates(params.get("offset"), float(params.get("timeout") or 0), params.get("limit") or 100)
            return web.json_response({"ok": True, "result": updates})
        status, body = self.api.handle(method, params)
        return web.json_response(body, status=status)

    async def _file(self, request: web.Request) -> web.Response:
        content = self.api.file_content(request.match_info["path"]) if self._authorised(request) else None
        return web.Response(body=content) if content is not None else web.Response(status=404)


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _JSON_FIELDS:
        return json.loads(value)
    if name in _INT_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if name in _BOOL_FIELDS:
        return value == "true"
    return value


# --- update payloads, as Telegram sends them --------------------------------------------------


def _utf16(text: str, index: int) -> int:
    return utf16_length(text[:index])


def entities_of(text: str) -> list[dict[str, Any]]:
    """The entities Telegram marks in *text*: a leading /command and @mentions."""
    found = []
    if command := re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text):
        found.append({"type": "bot_command", "offset": 0, "length": _utf16(text, command.end())})
    for mention in re.finditer(r"(?<![\w/])@[A-Za-z0-9_]{5,32}", text):
        start = _utf16(text, mention.start())
        found.append({"type": "mention", "offset": start, "length": _utf16(text, mention.end()) - start})
    return found


def message(
    text: str | None = None,
    *,
    chat: dict[str, Any] = PRIVATE,
    user: dict[str, Any] = USER,
    reply_to: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A message dict (not yet an update) from *user* in *chat*."""
    if chat is PRIVATE and user is not USER:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    body: dict[str, Any] = {"message_id": next(_message_ids), "date": int(time.time()), "chat": chat, "from": user}
    if text is not None:
        body["text"] = text
        if entities := entities_of(text):
            body["entities"] = entities
    if reply_to is not None:
        body["reply_to_message"] = reply_to
    body.update(extra)
    return body


def update(body: dict[str, Any], kind: str = "message") -> dict[str, Any]:
    """Wrap a message (or callback query) as an update with a fresh ``update_id``."""
    return {"update_id": next(_update_ids), kind: body}


def text_update(text: str, **kwargs: Any) -> dict[str, Any]:
    """A new text message from a user, as an update."""
    return update(message(text, **kwargs))


def callback_update(data: str, bot_message: dict[str, Any], *, user: dict[str, Any] = USER) -> dict[str, Any]:
    """A press on an inline button of *bot_message* (as Telegram returned it when it was sent)."""
    return update(
        {"id": str(next(_update_ids)), "from": user, "chat_instance": "-7000001", "data": data, "message": bot_message},
        "callback_query",
    )


def document_update(api: FakeBotApi, name: str, content: bytes, *, user: dict[str, Any] = ADMIN) -> dict[str, Any]:
    """A file sent as a document; the fake API then serves its content through getFile."""
    file_id = f"doc{next(_update_ids)}"
    api.add_file(file_id, name, content)
    document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name, "file_size": len(content)}
    return update(message(None, user=user, document=document))


# --- a Telegram application over a fresh Sanad app --------------------------------------------


@dataclass
class Harness:
    """A real PTB ``Application`` over a real Sanad app, talking to :class:`FakeBotApi`."""

    app: App
    application: Application
    api: FakeBotApi
    errors: list[BaseException]

    async def send(self, payload: dict[str, Any]) -> list[Call]:
        """Process one update; the Bot API calls it caused (those made before it returned)."""
        before = len(self.api.calls)
        await self.application.process_update(Update.de_json(payload, self.application.bot))
        return self.api.calls[before:]

    async def ask(self, text: str, **kwargs: Any) -> list[Call]:
        return await self.send(text_update(text, **kwargs))


def telegram_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/telegram.db",
        "corpus_dir": SEEDS,
        "telegram_bot_token": TOKEN,
        "telegram_admin_ids": (ADMIN["id"],),
        "index_poll_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    """A started application; on exit, any handler error nobody expected fails the test."""
    app = build_app(telegram_settings(tmp_path, **overrides))
    api = FakeBotApi()
    application = build_application(app, request=RecordingRequest(api), get_updates_request=RecordingRequest(api))
    errors: list[BaseException] = []

    async def collect(_update: object, context: Any) -> None:
        errors.append(context.error)

    application.add_error_handler(collect)
    await application.initialize()
    await application.start()
    api.calls.clear()  # getMe from initialize
    try:
        yield Harness(app, application, api, errors)
    finally:
        await application.stop()
        await application.shutdown()
        app.close()
    assert not errors, f"unexpected handler errors: {errors!r}"
