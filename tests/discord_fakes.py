"""A small fake of Discord on loopback, for driving the real discord.py in tests.

* :class:`FakeDiscord`: an aiohttp server with the REST endpoints the adapter uses (login,
  application info, ``/gateway/bot``, command sync, interaction callbacks, follow-ups) and a
  minimal gateway websocket (HELLO, IDENTIFY -> READY, heartbeat ACK, dispatch). It records
  the JSON discord.py sends, so tests assert what Discord would really receive.
* payload builders for ``INTERACTION_CREATE`` (slash commands, autocomplete, buttons), in
  servers and in DMs.
* :class:`Harness`: a real ``SanadBot`` logged in against the fake, with interactions
  delivered through the connection state's parser exactly as the gateway would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
from aiohttp import WSMsgType, web

from bot.app import App, build_app
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"

TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.Gfake0.sanad-test-token-never-logged"
APPLICATION_ID = 1000000000000000001
GUILD_ID = 1000000000000000100
OTHER_GUILD_ID = 1000000000000000101
CHANNEL_ID = 1000000000000000200
DM_CHANNEL_ID = 1000000000000000201
ADMIN_ID = 1000000000000000300
USER_ID = 1000000000000000301
ADMIN_ROLE_ID = 1000000000000000400

EPHEMERAL = 64
MANAGE_GUILD = discord.Permissions(manage_guild=True)
MEMBER = discord.Permissions(send_messages=True, use_application_commands=True, read_message_history=True)

BOT_USER = {
    "id": str(APPLICATION_ID),
    "username": "Sanad",
    "discriminator": "0",
    "global_name": "سند",
    "avatar": None,
    "bot": True,
    "flags": 0,
    "verified": True,
    "mfa_enabled": False,
}

JSON = "application/json"  # exactly: discord.py reads anything else as text


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data, ensure_ascii=False).encode(), content_type=JSON)


@dataclass
class Call:
    """One REST request the client made."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


CALL = web.RequestKey("call", Call)


@dataclass
class Sent:
    """One message (or callback) the bot sent in answer to an interaction."""

    kind: str  # "callback", "followup" or "edit"
    type: int | None  # the callback type (4 message, 5 deferred, 7 update, 8 autocomplete)
    data: dict[str, Any]  # the JSON fields as sent
    message: dict[str, Any] | None = None  # the message as the fake stored it

    @property
    def content(self) -> str:
        return self.data.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def ephemeral(self) -> bool:
        return bool((self.data.get("flags") or 0) & EPHEMERAL)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for row in self.data.get("components") or [] for c in row.get("components", [])]

    @property
    def custom_ids(self) -> list[str]:
        return [b["custom_id"] for b in self.buttons if "custom_id" in b]

    def button(self, custom_id_prefix: str) -> dict[str, Any]:
        """The button whose custom id starts with *custom_id_prefix*."""
        found = [b for b in self.buttons if b.get("custom_id", "").startswith(custom_id_prefix)]
        assert found, f"no button {custom_id_prefix!r} in {self.custom_ids}"
        return found[0]


@dataclass
class FakeDiscord:
    """Discord's REST API and gateway, as far as Sanad uses them, on 127.0.0.1."""

    token: str = TOKEN
    guilds: tuple[int, ...] = (GUILD_ID, OTHER_GUILD_ID)  # servers the bot is in (guild sync)
    heartbeat_interval_ms: int = 45_000
    calls: list[Call] = field(default_factory=list)
    sent: dict[str, list[Sent]] = field(default_factory=dict)  # by interaction token
    commands: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)  # synced, by guild
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by interaction id
    identify: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    unexpected: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1100000000000000000)
        self._seq = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- server -------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        """Listen on a free loopback port."""
        app = web.Application(middlewares=[self._record])
        api = "/api/v10"
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_get(f"{api}/gateway/bot", self._gateway_bot)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/{{message}}", self._edit)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Close the websockets and stop listening."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = None
        if request.can_read_body:
            raw = await request.read()
            with contextlib.suppress(ValueError):
                body = json.loads(raw) if raw else None
        call = Call(request.method, request.path, dict(request.query), body)
        self.calls.append(call)
        request[CALL] = call
        response = await handler(request)
        async with self._changed:
            self._changed.notify_all()
        return response

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _unauthorized(self) -> web.Response:
        return _json({"message": "401: Unauthorized", "code": 0}, 401)

    async def _unknown(self, request: web.Request) -> web.Response:
        self.unexpected.append(request[CALL])
        return _json({"message": "404: Not Found", "code": 0}, 404)

    # --- login ----------------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        return _json(BOT_USER) if self._authorized(request) else self._unauthorized()

    async def _application(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return _json(
            {
                "id": str(APPLICATION_ID),
                "name": "Sanad",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": BOT_USER | {"bot": False, "id": str(ADMIN_ID), "username": "owner"},
                "team": None,
                "summary": "",
                "rpc_origins": [],
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "approximate_guild_count": len(self.guilds),
            }
        )

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    # --- commands -------------------------------------------------------------------------------

    async def _sync(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        guild = request.match_info.get("guild")
        guild_id = int(guild) if guild else None
        if guild_id is not None and guild_id not in self.guilds:
            return _json({"message": "Missing Access", "code": 50001}, 403)
        sent = request[CALL].body or []
        self.commands[guild_id] = sent
        created = []
        for command in sent:
            item = dict(command)
            item.update(id=str(next(self._ids)), application_id=str(APPLICATION_ID), version="1")
            if guild_id is not None:
                item["guild_id"] = str(guild_id)
            created.append(item)
        return _json(created)

    # --- interactions ---------------------------------------------------------------------------

    def _message(self, data: dict[str, Any], interaction: dict[str, Any] | None) -> dict[str, Any]:
        channel_id = (interaction or {}).get("channel_id", str(CHANNEL_ID))
        message = {
            "id": str(next(self._ids)),
            "channel_id": channel_id,
            "type": 20,
            "content": data.get("content") or "",
            "embeds": data.get("embeds") or [],
            "components": data.get("components") or [],
            "attachments": [],
            "author": BOT_USER,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": _now(),
            "edited_timestamp": None,
            "flags": data.get("flags") or 0,
        }
        if interaction and interaction.get("guild_id"):
            message["guild_id"] = interaction["guild_id"]
        return message

    def _record_sent(self, token: str, sent: Sent) -> None:
        self.sent.setdefault(token, []).append(sent)

    async def _callback(self, request: web.Request) -> web.Response:
        body = request[CALL].body or {}
        interaction = self.interactions.get(request.match_info["id"])
        kind, data = body.get("type"), body.get("data") or {}
        message = None
        if kind == 4 or kind == 5:
            message = self._message(data, interaction)
        elif kind == 7 and interaction and interaction.get("message"):
            message = dict(interaction["message"]) | {k: v for k, v in data.items() if k in ("content", "embeds", "components")}
        self._record_sent(request.match_info["token"], Sent("callback", kind, data, message))
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            resource["message"] = message
        return _json(
            {
                "interaction": {
                    "id": request.match_info["id"],
                    "type": (interaction or {}).get("type", 2),
                    "response_message_id": message["id"] if message else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool((data.get("flags") or 0) & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _interaction_by_token(self, token: str) -> dict[str, Any] | None:
        return next((i for i in self.interactions.values() if i["token"] == token), None)

    async def _followup(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        data = request[CALL].body or {}
        message = self._message(data, self._interaction_by_token(token))
        self._record_sent(token, Sent("followup", None, data, message))
        return _json(message)

    async def _edit(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        data = request[CALL].body or {}
        message = self._message(data, self._interaction_by_token(token))
        self._record_sent(token, Sent("edit", None, data, message))
        return _json(message)

    async def wait_sent(self, token: str, count: int = 1, timeout: float = 10.0) -> list[Sent]:
        """Wait until at least *count* messages were sent for the interaction *token*."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent.get(token, [])) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.sent[token]

    # --- gateway --------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            if payload.get("op") == 2:
                self.identify.append(payload["d"])
                if payload["d"].get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                await ws.send_json({"op": 0, "t": "READY", "s": next(self._seq), "d": self._ready(payload["d"])})
            elif payload.get("op") == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11})
            async with self._changed:
                self._changed.notify_all()
        self._sockets.remove(ws)
        return ws

    def _ready(self, identify: dict[str, Any]) -> dict[str, Any]:
        return {
            "v": 10,
            "user": BOT_USER,
            "guilds": [],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APPLICATION_ID), "flags": 0},
            "shard": identify.get("shard", [0, 1]),
        }

    async def wait_identified(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait for the bot's IDENTIFY (the READY answer is sent at once)."""

        async def identified() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: bool(self.identify) and bool(self._sockets))

        await asyncio.wait_for(identified(), timeout)
        return self.identify[-1]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to every connected client."""
        if event == "INTERACTION_CREATE":
            self.interactions[data["id"]] = data
        for ws in self._sockets:
            await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})


# --- interaction payloads -------------------------------------------------------------------------

_interaction_ids = itertools.count(1200000000000000000)


def user(user_id: int = USER_ID) -> dict[str, Any]:
    """A Discord user object."""
    return {"id": str(user_id), "username": f"user{user_id % 1000}", "discriminator": "0", "global_name": None, "avatar": None}


def interaction(
    kind: int,
    data: dict[str, Any],
    *,
    user_id: int = USER_ID,
    dm: bool = False,
    permissions: discord.Permissions = MEMBER,
    roles: tuple[int, ...] = (),
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``INTERACTION_CREATE`` payload as the gateway sends it, in a server or in the bot's DMs."""
    number = next(_interaction_ids)
    payload: dict[str, Any] = {
        "id": str(number),
        "application_id": str(APPLICATION_ID),
        "type": kind,
        "token": f"interaction-token-{number}",
        "version": 1,
        "data": data,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "app_permissions": str(discord.Permissions(send_messages=True, embed_links=True).value),
    }
    if dm:
        payload |= {
            "channel_id": str(DM_CHANNEL_ID),
            "channel": {"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user(user_id)]},
            "user": user(user_id),
            "context": 1,
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
        }
    else:
        payload |= {
            "guild_id": str(GUILD_ID),
            "guild_locale": "en-US",
            "channel_id": str(CHANNEL_ID),
            "channel": {
                "id": str(CHANNEL_ID),
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            },
            "member": {
                "user": user(user_id),
                "roles": [str(r) for r in roles],
                "permissions": str(permissions.value),
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "flags": 0,
                "nick": None,
            },
            "context": 0,
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
        }
    if message is not None:
        payload["message"] = message
    return payload


def _option(name: str, value: Any, focused: bool = False) -> dict[str, Any]:
    option = {"name": name, "type": 5 if isinstance(value, bool) else 3, "value": value}
    if focused:
        option["focused"] = True
    return option


def slash(name: str, options: dict[str, Any] | None = None, **who: Any) -> dict[str, Any]:
    """A slash command (interaction type 2) with its option values."""
    data = {
        "id": str(next(_interaction_ids)),
        "name": name,
        "type": 1,
        "options": [_option(k, v) for k, v in (options or {}).items()],
    }
    return interaction(2, data, **who)


def autocomplete(name: str, focused: str, value: str, **who: Any) -> dict[str, Any]:
    """Autocomplete (interaction type 4) while the user types *value* in option *focused*."""
    data = {"id": str(next(_interaction_ids)), "name": name, "type": 1, "options": [_option(focused, value, True)]}
    return interaction(4, data, **who)


def press(message: dict[str, Any], custom_id: str, **who: Any) -> dict[str, Any]:
    """A button press (interaction type 3) on *message*, which must carry that button."""
    return interaction(3, {"custom_id": custom_id, "component_type": 2}, message=message, **who)


# --- reading what was sent --------------------------------------------------------------------------

_MARKUP = re.compile(r"\\(.)|\*\*|[\u2066\u2069]")


def unrender(markdown: str) -> str:
    """The text a reader sees: markdown escapes undone, bold markers and bidi isolates removed."""
    return _MARKUP.sub(lambda m: m.group(1) or "", markdown)


def quote_text(description: str) -> str:
    """The quoted words of an answer embed (the sentence, or the excerpt without the "…" that
    mark where it was cut), without guillemets and formatting."""
    text = unrender(description).removeprefix("«").removesuffix("»")
    return text.removeprefix("\u200f\u2026 ").removesuffix(" \u2026\u200f")


# --- an app and a bot -----------------------------------------------------------------------------


def make_app(tmp_path: Path, **settings: Any) -> App:
    """The answer service over the seed articles, in a fresh SQLite database."""
    settings.setdefault("corpus_dir", SEEDS)
    return build_app(Settings(database_url=f"sqlite:///{tmp_path}/sanad.db", **settings))


class ErrorLog(logging.Handler):
    """Collects ERROR records, so a test fails on a swallowed exception instead of timing out."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Harness:
    """A real SanadBot logged in against :class:`FakeDiscord`, fed interactions in-process."""

    def __init__(self, fake: FakeDiscord, bot: Any, app: App, errors: ErrorLog) -> None:
        self.fake = fake
        self.bot = bot
        self.app = app
        self.errors = errors
        self.expect_errors = False

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, app: App, monkeypatch: Any, *, poll_index: bool = False) -> AsyncIterator[Harness]:
        """Start the fake, point discord.py's REST at it, log a bot in; clean up afterwards."""
        from bot.discord_bot.client import SanadBot

        fake = await FakeDiscord().start()
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_url)
        errors = ErrorLog()
        logging.getLogger().addHandler(errors)
        bot = SanadBot(app, poll_index=poll_index)
        harness = cls(fake, bot, app, errors)
        try:
            await bot.login(TOKEN)
            yield harness
        finally:
            await bot.close()
            await fake.close()
            logging.getLogger().removeHandler(errors)
            app.close()
        if not harness.expect_errors:
            assert not errors.records, [r.getMessage() for r in errors.records]
        assert not fake.unexpected, fake.unexpected

    async def deliver(self, payload: dict[str, Any]) -> list[Sent]:
        """Hand *payload* to discord.py as the gateway would, wait until it is handled, and
        return what the bot sent for it."""
        self.fake.interactions[payload["id"]] = payload
        self.bot._connection.parsers["INTERACTION_CREATE"](payload)
        await self.settle()
        return self.fake.sent.get(payload["token"], [])

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait for the command and button tasks discord.py started."""
        current = asyncio.current_task()
        for _ in range(50):
            pending = [
                t
                for t in asyncio.all_tasks()
                if t is not current and not t.done() and t.get_name().startswith(("CommandTree-invoker", "discord-ui-"))
            ]
            if not pending:
                return
            done, _ = await asyncio.wait(pending, timeout=timeout)
            assert done, "interaction handling timed out"

    async def slash(self, name: str, options: dict[str, Any] | None = None, **who: Any) -> list[Sent]:
        """Run a slash command; returns the messages sent for it."""
        return await self.deliver(slash(name, options, **who))

    async def press(self, sent: Sent, custom_id: str, **who: Any) -> list[Sent]:
        """Press the button *custom_id* on a message the bot sent."""
        assert sent.message is not None and custom_id in sent.custom_ids, (custom_id, sent.custom_ids)
        return await self.deliver(press(sent.message, custom_id, **who))

    async def autocomplete(self, name: str, focused: str, value: str, **who: Any) -> list[dict[str, Any]]:
        """The choices the bot offers while *value* is typed in option *focused*."""
        sent = await self.deliver(autocomplete(name, focused, value, **who))
        assert len(sent) == 1 and sent[0].type == 8, sent
        return sent[0].data["choices"]
