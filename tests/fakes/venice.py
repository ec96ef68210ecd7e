"""A fake Venice API server over real HTTP on 127.0.0.1, for tests and the offline demo.

    async with FakeVenice() as fake:
        async with httpx.AsyncClient(base_url=fake.base_url, headers={"Authorization": "Bearer k"}) as http:
            ...
        assert fake.spec_errors == []

Run ``python -m tests.fakes.venice [--port N]`` to serve it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import re
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import openapi
from tests.fakes.local_server import DropConnection, EventStreamResponse, Hold, Holds, LocalServer
from tests.fakes.venice_audio import AudioEndpoints
from tests.fakes.venice_augment import AugmentEndpoints
from tests.fakes.venice_catalogue import (
    EMBEDDING_DIMENSIONS,
    default_balance,
    default_characters,
    default_models,
    rate_limits_body,
)
from tests.fakes.venice_chat import (
    ChatScript,
    StreamEvent,
    completion_body,
    compute_cost,
    compute_usage,
    conversation_errors,
    default_reply,
    effective_venice_parameters,
    estimate_prompt_tokens,
    response_venice_parameters,
    split_model,
    stream_events,
)
from tests.fakes.venice_documents import DocumentEndpoints
from tests.fakes.venice_errors import (
    CHARACTER_NOT_FOUND,
    CHAT_CHARACTER_NOT_FOUND,
    INVALID_CONTENT_TYPE,
    INVALID_MODEL,
    MODEL_NOT_FOUND,
    context_length_error,
    default_error_body,
    error_response,
    field_error,
    validation_error_body,
)
from tests.fakes.venice_media import VideoJob
from tests.fakes.venice_media_more import MoreMediaEndpoints
from tests.fakes.venice_memory import (
    CACHE_MIN_TOKENS,
    PrefixCache,
    cache_write_tokens,
    embedding_tokens,
    embedding_vector,
    encode_embedding,
)

__all__ = ["Call", "ChatScript", "FakeVenice", "UploadedFile", "VideoJob"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
REQUESTS_PER_MINUTE = 500  # Venice's tier XS limits
TOKENS_PER_MINUTE = 1_000_000
DEFAULT_DEPRECATION_DATE = "2026-12-31T00:00:00.000Z"
# Paths whose spec security includes `{}`: they answer without credentials.
PUBLIC_PATHS = frozenset({"/models", "/image/styles"})


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str  # without the /api/v1 prefix
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    # Parsed JSON; for forms a dict of text fields, with a file part as {"filename", "content_type", "size"};
    # raw bytes otherwise; None when empty.
    body: Any
    time: float  # time.monotonic() on arrival
    # The file parts' bytes by field name, kept for tests to inspect; ``fake.keep_uploads = False`` (or
    # ``fake.calls.clear()``) lets them go, as a memory benchmark uploading 25 MB at a time should.
    files: dict[str, UploadedFile] = field(default_factory=dict, repr=False)

    @property
    def media_type(self) -> str:
        """Return the request's Content-Type without parameters, lower-cased ("" when none)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass
class _Scripted:
    """A scripted failure: an HTTP error, or a dropped connection when ``status`` is None."""

    pattern: re.Pattern[str]
    status: int | None
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int = 1


# (the call, the standard response headers, the path parameters) -> the response
_Handler = Callable[[Call, dict[str, str], dict[str, str]], Response]


class FakeVenice(DocumentEndpoints, AugmentEndpoints, AudioEndpoints, MoreMediaEndpoints):
    """A fake Venice API: real HTTP, recorded calls, scripted answers and failures, spec validation.

    The media endpoints and their settings (``adult_words``, ``upscale_echo``, ``transcript``,
    ``video_jobs``, ...) come from ``MediaEndpoints`` in venice_media.py, the text parser's
    (``documents_read``, ``document_tokens``) from ``DocumentEndpoints`` in venice_documents.py,
    web search and scrape's (``search_results``, ``pages``, ``searches``, ``scraped``) from
    ``AugmentEndpoints`` in venice_augment.py.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        validate: bool | None = None,
        spec_file: Path | None = None,
        api_key: str | None = None,
    ) -> None:
        """Create the fake; ``validate=None`` validates if the spec exists (insists under CI), ``True`` insists."""
        # Everything below is plain state: tests read and change it freely, even while serving.
        self.api_key = api_key  # None: any non-empty Bearer token passes; set: only "Bearer <api_key>"
        self.calls: list[Call] = []  # every request, in arrival order
        self.spec_errors: list[str] = []  # one line per request that broke the spec; tests assert == []
        self.models: list[dict[str, Any]] = default_models()  # GET /models; chat looks models up here
        self.characters: list[dict[str, Any]] = default_characters()
        self.balance: dict[str, Any] = default_balance()  # GET /billing/balance; chat costs are deducted
        self.rate_limits: dict[str, Any] | None = None  # GET /api_keys/rate_limits body; derived when None
        self.response_headers: dict[str, str] = {}  # merged into every response
        self.deprecated_models: dict[str, str] = {}  # model id -> x-venice-model-deprecation-warning
        self.delay: float = 0.0  # seconds to wait before answering any request
        # False: once answered, a call forgets its uploaded files and long JSON strings (base64 images), so a
        # memory benchmark of 25 MB uploads measures the client, not the fake's recordings.
        self.keep_uploads: bool = True
        self.script: list[ChatScript] = []  # chat answers, popped first-in first-out
        # (path, model, usage) of every chat and embeddings request answered, for cost benchmarks
        self.usage_log: list[tuple[str, str, dict[str, Any]]] = []
        self.responder: Callable[[dict[str, Any]], ChatScript] = (
            self.default_responder
        )  # when script is empty
        # Prompt caching as providers report it: usage.prompt_tokens_details.cached_tokens is the longest
        # prefix of whole messages shared with a recent request (same model and prompt_cache_key), 0 under
        # cache_min_tokens; models whose pricing has cache_write also report cache_creation_input_tokens
        # (see venice_memory.cache_write_tokens). False: prompt_tokens_details is null.
        self.prefix_cache: bool = True
        self.cache_min_tokens: int = CACHE_MIN_TOKENS
        self.prompt_cache = PrefixCache()  # ``fake.prompt_cache.clear()`` forgets every prompt
        self._init_media()
        self._init_documents()
        self._init_augment()
        self._init_audio()  # music_jobs, music_polls_until_done: venice_audio.py
        self._init_more_media()  # background removal, multi-edit, video transcripts

        self._spec_file: Path | None = None
        spec = (spec_file or openapi.spec_path()).resolve()
        if validate is not False:
            if spec.is_file():
                self._spec_file = spec
            elif validate or openapi.spec_required():
                # Raises SpecNotFoundError, saying where it looked and how to fix it. Under CI a missing
                # spec is an error: every test would otherwise pass without checking what it sends.
                openapi.load_spec(spec)
            else:
                logger.warning("Venice OpenAPI spec not found at %s: requests will not be validated", spec)

        self._scripted: list[_Scripted] = []
        self._holds = Holds(lambda pattern, path: _path_regex(pattern).match(path) is not None)
        self._counter = itertools.count(1)
        self._window_start = time.time()
        self._window_requests = 0
        self._window_tokens = 0
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            ("GET", _path_regex("/models"), self._list_models),
            ("GET", _path_regex("/characters"), self._list_characters),
            ("GET", _path_regex("/characters/{slug}"), self._get_character),
            ("GET", _path_regex("/billing/balance"), self._get_balance),
            ("GET", _path_regex("/api_keys/rate_limits"), self._get_rate_limits),
            ("POST", _path_regex("/chat/completions"), self._chat_completions),
            ("POST", _path_regex("/embeddings"), self._embeddings),
            *(
                (method, _path_regex(template), handler)
                for method, template, handler in [
                    *self._media_routes(),
                    *self._document_routes(),
                    *self._augment_routes(),
                    *self._audio_routes(),
                    *self._more_media_routes(),
                ]
            ),
        ]
        # One catch-all route: recording, scripted failures and auth apply to every path alike.
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(routes=[Route(API_PREFIX + "/{path:path}", self._endpoint, methods=methods)])
        self._http = LocalServer(self.app, port)

    # ---- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the TCP port (the OS's pick once started, when created with port 0)."""
        return self._http.port

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:<port>/api/v1``."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def validating(self) -> bool:
        """Return whether requests are checked against the OpenAPI spec."""
        return self._spec_file is not None

    async def __aenter__(self) -> FakeVenice:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving on 127.0.0.1 in this event loop."""
        if self._spec_file is not None:
            openapi.load_spec(self._spec_file)  # parse (or read the cache) now, not during the first request
        await self._http.start()

    async def stop(self) -> None:
        """Stop serving."""
        self._holds.release_all()
        await self._http.stop()

    # ---- test API ----------------------------------------------------------------------------------

    def calls_to(self, path: str) -> list[Call]:
        """Return the recorded calls to ``path`` (with or without /api/v1)."""
        wanted = _normalize_path(path)
        return [call for call in self.calls if call.path == wanted]

    def fail(
        self,
        path: str,
        status: int,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``; a str body is sent raw, not as JSON.

        ``path`` is without /api/v1 and may be a template (``/characters/{slug}``); ``body`` defaults to what
        Venice sends for that status.
        """
        pattern = _path_regex(_normalize_path(path))
        self._scripted.append(_Scripted(pattern, status, body, dict(headers or {}), times))

    def drop_connection(self, path: str, times: int = 1) -> None:
        """Close the TCP connection without any response for the next ``times`` requests to ``path``."""
        self._scripted.append(_Scripted(_path_regex(_normalize_path(path)), None, remaining=times))

    def hold_answer(self, path: str) -> Hold:
        """Do the work of the next request to ``path`` (a video is queued, and charged) but hold
        its answer back until the test releases it: the window between Venice's answer and the
        client acting on it, made as wide as a test needs (to kill the client in it).

        ``path`` may be a template; ``hold.arrived`` is set once the work is done."""
        return self._holds.add(_normalize_path(path))

    def default_responder(self, body: dict[str, Any]) -> ChatScript:
        """Answer a chat request deterministically (the offline demo's brain)."""
        model_id, _ = split_model(str(body.get("model", "")))
        return default_reply(body, self._find_model(model_id))

    # ---- request pipeline --------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        number = next(self._counter)
        path = _normalize_path(request.path_params["path"])
        body, files, json_error = await _read_body(request)
        call = Call(
            method=request.method,
            path=path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            time=time.monotonic(),
            files=files,
        )
        self.calls.append(call)
        try:
            response = await self._answer(call, number, json_error, request)
            await self._holds.wait(path)
            return response
        finally:
            if not self.keep_uploads:
                _forget_uploads(call)

    async def _answer(self, call: Call, number: int, json_error: str | None, request: Request) -> Response:
        path = call.path
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        headers = self._standard_headers(number)

        scripted = self._take_scripted(path)
        if scripted is not None:
            if scripted.status is None:
                return DropConnection(self._http.abort_connection)
            if scripted.status == 429:
                headers["x-ratelimit-remaining-requests"] = "0"
            error = scripted.body if scripted.body is not None else default_error_body(scripted.status, path)
            return _error(scripted.status, error, headers | scripted.headers)

        route = self._match_route(call.method, path)
        if route is None:
            return self._unroutable(call, headers)
        if not self._authorized(call):
            return _error(401, {"error": "Authentication failed"}, headers)
        if json_error is not None:
            self._spec_error(call, f"body is not valid JSON ({json_error})")
            return _error(400, {"error": "Invalid JSON in request body"}, headers)
        issues = self._spec_issues(call, request)
        if issues:
            self._spec_error(call, "; ".join(map(str, issues)))
            if any(issue.keyword == openapi.CONTENT_TYPE_KEYWORD for issue in issues):
                return _error(415, dict(INVALID_CONTENT_TYPE), headers)
            return _error(400, validation_error_body(issues), headers)
        handler, path_params = route
        return handler(call, headers, path_params)

    def _spec_issues(self, call: Call, request: Request) -> list[openapi.SpecIssue]:
        template = self._spec_template(call.path)
        if self._spec_file is None or template is None:
            return []
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        issues = openapi.query_issues(call.method, template, query, spec_file=self._spec_file)
        if call.body is not None or call.method in ("POST", "PUT", "PATCH"):
            body = call.body
            if call.files and isinstance(body, dict):
                # A file part validates as a binary string (bytes); its contents do not matter here.
                body = {
                    key: f"<file, {len(call.files[key].data)} bytes>".encode() if key in call.files else value
                    for key, value in body.items()
                }
            issues += openapi.request_issues(
                call.method,
                template,
                body,
                media_type=call.media_type or "application/json",
                spec_file=self._spec_file,
            )
        return issues

    def _standard_headers(self, number: int) -> dict[str, str]:
        now = time.time()
        if now - self._window_start >= 60:
            self._window_start, self._window_requests, self._window_tokens = now, 0, 0
        self._window_requests += 1
        balances = self.balance.get("balances", {})
        headers = {
            "CF-RAY": f"fake{number}-IAD",
            "x-ratelimit-limit-requests": str(REQUESTS_PER_MINUTE),
            "x-ratelimit-remaining-requests": str(max(0, REQUESTS_PER_MINUTE - self._window_requests)),
            "x-ratelimit-reset-requests": str(int(self._window_start + 60)),  # a Unix timestamp
            "x-ratelimit-limit-tokens": str(TOKENS_PER_MINUTE),
            "x-ratelimit-remaining-tokens": str(max(0, TOKENS_PER_MINUTE - self._window_tokens)),
            "x-ratelimit-reset-tokens": str(max(1, int(self._window_start + 60 - now))),  # seconds
            # The balance before this request, as Venice reports it.
            "x-venice-balance-usd": _money(balances.get("usd")),
            "x-venice-balance-diem": _money(balances.get("diem")),
        }
        return headers | self.response_headers

    def _take_scripted(self, path: str) -> _Scripted | None:
        for scripted in self._scripted:
            if scripted.pattern.match(path):
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    self._scripted.remove(scripted)
                return scripted
        return None

    def _match_route(self, method: str, path: str) -> tuple[_Handler, dict[str, str]] | None:
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match and route_method == method:
                return handler, match.groupdict()
        return None

    def _spec_template(self, path: str) -> str | None:
        if self._spec_file is None:
            return None
        return openapi.path_template_for(path, spec_file=self._spec_file)

    def _unroutable(self, call: Call, headers: dict[str, str]) -> Response:
        if any(pattern.match(call.path) for _, pattern, _ in self._routes):
            self._spec_error(call, "method not allowed")
            return _error(405, {"error": "Method not allowed"}, headers)
        if self._spec_file is not None:
            template = self._spec_template(call.path)
            if template is None:
                self._spec_error(call, "not a path in the Venice spec")
                return _error(404, {"error": "Not found"}, headers)
            if call.method.lower() not in openapi.load_spec(self._spec_file)["paths"][template]:
                self._spec_error(call, f"the Venice spec has no {call.method} {template}")
                return _error(405, {"error": "Method not allowed"}, headers)
        return _error(
            501, {"error": f"{call.method} {call.path} is not implemented by the fake Venice"}, headers
        )

    def _authorized(self, call: Call) -> bool:
        given = call.headers.get("authorization")
        if given is None and call.path in PUBLIC_PATHS:
            return True  # public: the spec's security for these allows no credentials
        scheme, _, token = (given or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return self.api_key is None or token.strip() == self.api_key

    def _spec_error(self, call: Call, message: str) -> None:
        self.spec_errors.append(f"{call.method} {call.path}: {message}")

    def _find_model(self, model_id: str) -> dict[str, Any] | None:
        for model in self.models:
            if model.get("id") == model_id:
                return model
        # Venice also takes a trait ("default", "default_vision", ...) in place of a model id.
        for model in self.models:
            if model.get("type") == "text" and model_id in model.get("model_spec", {}).get("traits", []):
                return model
        return None

    # ---- endpoints ---------------------------------------------------------------------------------

    def _list_models(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        wanted = call.query.get("type", "text")  # Venice lists only text models unless asked
        if wanted == "code":
            data = [
                m
                for m in self.models
                if m.get("model_spec", {}).get("capabilities", {}).get("optimizedForCode")
            ]
        else:
            data = [m for m in self.models if wanted == "all" or m.get("type") == wanted]
        return JSONResponse({"object": "list", "type": wanted, "data": data}, headers=headers)

    def _list_characters(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        found = self.characters
        needle = call.query.get("search", "").strip().lstrip("#").lower()  # "#tag" searches tags too
        if needle:
            found = [
                c
                for c in found
                if needle
                in " ".join([c.get("name", ""), c.get("description") or "", *c.get("tags", [])]).lower()
            ]
        offset, limit = _int(call.query.get("offset"), 0), _int(call.query.get("limit"), 50)
        return JSONResponse({"object": "list", "data": found[offset : offset + limit]}, headers=headers)

    def _get_character(self, call: Call, headers: dict[str, str], params: dict[str, str]) -> Response:
        for character in self.characters:
            if character.get("slug") == params["slug"]:
                return JSONResponse({"object": "character", "data": character}, headers=headers)
        return _error(404, dict(CHARACTER_NOT_FOUND), headers)

    def _get_balance(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        return JSONResponse(self.balance, headers=headers)

    def _get_rate_limits(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = (
            self.rate_limits if self.rate_limits is not None else rate_limits_body(self.models, self.balance)
        )
        return JSONResponse(body, headers=headers)

    def _chat_completions(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, default_error_body(400, call.path), headers)  # only reachable unvalidated
        model_id, _suffix = split_model(str(body.get("model", "")))
        model = self._usable_model(model_id, "text", call, headers)
        if isinstance(model, Response):
            return model
        params = effective_venice_parameters(body)
        slug = params.get("character_slug")
        if slug and not any(c.get("slug") == slug for c in self.characters):
            return _error(404, dict(CHAT_CHARACTER_NOT_FOUND), headers)
        # Not in the spec, but what the bot must never send: tools for a model that cannot call
        # them (recorded; answered without calls, as Venice's behaviour there is not documented),
        # and results that answer no call or calls left unanswered (refused, as providers do).
        if body.get("tools") and not model.get("model_spec", {}).get("capabilities", {}).get(
            "supportsFunctionCalling"
        ):
            self._spec_error(call, f"tools sent to {model['id']}, which does not support function calling")
        problems = conversation_errors(body)
        if problems:
            self._spec_error(call, "; ".join(problems))
            return _error(400, {"error": "; ".join(problems)}, headers)
        context = model.get("model_spec", {}).get("availableContextTokens", 0)
        if context and estimate_prompt_tokens(body["messages"]) > context:
            return _error(400, context_length_error(), headers)

        script = self.script.pop(0) if self.script else self.responder(body)
        cached, written = None, 0
        if self.prefix_cache:
            key = body.get("prompt_cache_key")
            cached = self.prompt_cache.lookup_and_store(
                model["id"], key if isinstance(key, str) else None, body["messages"], self.cache_min_tokens
            )
            if "cache_write" in model.get("model_spec", {}).get("pricing", {}):
                written = cache_write_tokens(body["messages"], cached, self.cache_min_tokens)
        usage = compute_usage(body["messages"], script, cached, written)
        self.usage_log.append(("/chat/completions", model["id"], usage))
        cost = compute_cost(model, usage, script, str(self.balance.get("consumptionCurrency") or "USD"))
        self._charge(cost, int(usage.get("total_tokens", 0)))
        if model["id"] in self.deprecated_models:
            headers["x-venice-model-deprecation-warning"] = self.deprecated_models[model["id"]]
            deprecation = model.get("model_spec", {}).get("deprecation", {})
            headers["x-venice-model-deprecation-date"] = deprecation.get("date", DEFAULT_DEPRECATION_DATE)

        shape: dict[str, Any] = {
            "completion_id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model_id": model["id"],
            "script": script,
            "usage": usage,
            "cost": cost,
            "venice_parameters": response_venice_parameters(params, model, script.citations),
        }
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            events = stream_events(**shape, include_usage=include_usage)
            return EventStreamResponse(
                script.raw if script.raw is not None else [event.data for event in events],
                headers,
                self._http.abort_connection,
                delay=script.chunk_delay,
                cut_before=_cut_index(events, script.cut_after),
            )
        if script.cut_after is not None:
            return DropConnection(self._http.abort_connection)
        return JSONResponse(completion_body(**shape), headers=headers)

    def _usable_model(
        self, model_id: str, kind: str, call: Call, headers: dict[str, str]
    ) -> dict[str, Any] | Response:
        """Return the model a request names, or Venice's error: unknown, of another type, or no balance."""
        model = self._find_model(model_id)
        if model is None:
            return _error(404, dict(MODEL_NOT_FOUND), headers)
        if model.get("type") != kind:
            return _error(400, dict(INVALID_MODEL), headers)
        if not self.balance.get("canConsume", True):
            return _error(402, default_error_body(402, call.path), headers)
        return model

    def _embeddings(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = call.body
        if not isinstance(body, dict):
            return _error(400, default_error_body(400, call.path), headers)  # only reachable unvalidated
        model = self._usable_model(str(body.get("model", "")), "embedding", call, headers)
        if isinstance(model, Response):
            return model
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given if isinstance(given, list) else []
        if not texts or not all(isinstance(text, str) and text for text in texts):
            return _error(400, field_error("input", "Input cannot be an empty string"), headers)
        spec = model.get("model_spec", {})
        limit = int(spec.get("maxInputTokens") or 0)
        if limit and any(embedding_tokens(text) > limit for text in texts):
            return _error(400, field_error("input", f"Input exceeds {limit} tokens"), headers)
        dimensions = body.get("dimensions")
        size = (
            dimensions if isinstance(dimensions, int) and dimensions > 0 else spec.get("embeddingDimensions")
        )
        size = int(size or EMBEDDING_DIMENSIONS)
        encoding = str(body.get("encoding_format") or "float")
        tokens = sum(embedding_tokens(text) for text in texts)
        self.usage_log.append(("/embeddings", model["id"], {"prompt_tokens": tokens}))
        currency = str(self.balance.get("consumptionCurrency") or "USD")
        # Input tokens at the model's input price: the same sum as a chat request without an answer.
        self._charge(compute_cost(model, {"prompt_tokens": tokens}, ChatScript(), currency), tokens)
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_embedding(embedding_vector(text, size), encoding),
            }
            for index, text in enumerate(texts)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse(
            {"object": "list", "data": data, "model": model["id"], "usage": usage}, headers=headers
        )

    def _charge(self, cost: dict[str, float], tokens: int) -> None:
        self._window_tokens += tokens
        balances = self.balance.get("balances")
        if not isinstance(balances, dict):
            return
        for currency in ("usd", "diem"):
            if cost.get(currency) and isinstance(balances.get(currency), (int, float)):
                balances[currency] = round(balances[currency] - cost[currency], 8)


def _normalize_path(path: str) -> str:
    path = "/" + path.lstrip("/")
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX) :] or "/"
    return path


def _path_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


async def _read_body(request: Request) -> tuple[Any, dict[str, UploadedFile], str | None]:
    """Return the body (parsed JSON, a form as a dict, raw bytes, or None), a form's files, and a JSON error."""
    raw = await request.body()
    if not raw:
        return None, {}, None
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        try:
            return json.loads(raw), {}, None
        except ValueError as exc:
            return raw, {}, str(exc)
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        fields: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        # Starlette caps text fields at 1 MB; files are spooled to disk while parsing and read back here.
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                    continue
                files[key] = UploadedFile(value.filename, value.content_type, await value.read())
                fields[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": value.size,
                }
        return fields, files, None
    return raw, {}, None


_LONG_STRING = 64 * 1024


def _forget_uploads(call: Call) -> None:
    """Drop a recorded call's file bytes and long JSON strings, keeping their sizes in view."""
    call.files = {name: UploadedFile(f.filename, f.content_type, b"") for name, f in call.files.items()}
    if isinstance(call.body, dict):
        for key, value in call.body.items():
            if isinstance(value, str) and len(value) > _LONG_STRING:
                call.body[key] = f"<{len(value)} characters, dropped: keep_uploads is False>"


def _cut_index(events: list[StreamEvent], cut_after: int | None) -> int | None:
    """Return the index of the first event not sent when cutting after ``cut_after`` content chunks."""
    if cut_after is None:
        return None
    sent = 0
    for index, event in enumerate(events):
        # With fewer content chunks than cut_after, the stream still never finishes.
        if (event.kind == "content" and sent >= cut_after) or event.kind in ("finish", "usage", "done"):
            return index
        sent += event.kind == "content"
    return None


_error = error_response


def _money(value: Any) -> str:
    return "0" if value is None else f"{float(value):.8f}".rstrip("0").rstrip(".") or "0"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


async def _serve_until_interrupted(port: int, validate: bool | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with FakeVenice(port=port, validate=validate) as fake:
        print(f"VENICE_BASE_URL={fake.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Serve the fake Venice API on 127.0.0.1 until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.venice", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: one the OS picks)")
    parser.add_argument("--no-validate", action="store_true", help="do not check requests against the spec")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve_until_interrupted(args.port, False if args.no_validate else None))


if __name__ == "__main__":
    main()
