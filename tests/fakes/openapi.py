"""Venice's OpenAPI spec, loaded once and used to validate what crosses the fake Venice server.

The spec lives outside the repository (``../shared/venice/openapi.yaml``, or ``$VENICE_OPENAPI_SPEC``).
Parsing its 14,700 lines with ruamel.yaml takes seconds, so the parsed and repaired document is
cached in-process and on disk as JSON, keyed by the file's SHA-256.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_PATH = REPO_ROOT.parent / "shared" / "venice" / "openapi.yaml"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache"
SPEC_ENV_VAR = "VENICE_OPENAPI_SPEC"
CACHE_DIR_ENV_VAR = "VENICE_OPENAPI_CACHE_DIR"

# Bump whenever _repair() changes, so caches written by an older repair are ignored.
_REPAIR_VERSION = 2
# The whole spec is registered under this URI; schemas are validated through "$ref"s into it,
# so the spec's own local "#/components/schemas/..." refs resolve lazily (and recursion is safe).
_SPEC_URI = "urn:venice:openapi"
_MAX_MESSAGE = 300


class SpecNotFoundError(FileNotFoundError):
    """The Venice OpenAPI spec file is not where we looked."""


@dataclass(frozen=True)
class SpecIssue:
    """One way an instance breaks the spec: where, what, and which schema keyword failed."""

    path: tuple[str | int, ...]
    message: str
    keyword: str
    expected: Any = None

    def __str__(self) -> str:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"{where}: {self.message}"


def spec_path() -> Path:
    """Return the spec file to use: ``$VENICE_OPENAPI_SPEC`` or ``<repo>/../shared/venice/openapi.yaml``."""
    env = os.environ.get(SPEC_ENV_VAR)
    return Path(env).expanduser().resolve() if env else DEFAULT_SPEC_PATH.resolve()


def spec_available(path: Path | None = None) -> bool:
    """Return whether the spec file exists."""
    return (path or spec_path()).is_file()


def spec_required() -> bool:
    """Return whether a missing spec fails the tests instead of skipping them: under CI (``CI`` set)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_spec_message(path: Path | None = None) -> str:
    """Say where the spec was looked for and how to provide it."""
    return (
        f"Venice OpenAPI spec not found at {(path or spec_path()).resolve()}. Set {SPEC_ENV_VAR} to the "
        "path of openapi.yaml, or check out the shared folder next to this repository (../shared/venice/)."
    )


def load_spec(path: Path | None = None) -> dict[str, Any]:
    """Return the parsed, repaired spec (cached in-process and on disk); raise SpecNotFoundError if missing."""
    resolved = (path or spec_path()).resolve()
    if not resolved.is_file():
        raise SpecNotFoundError(missing_spec_message(resolved))
    return _load_spec_cached(str(resolved))


@functools.cache
def _load_spec_cached(path: str) -> dict[str, Any]:
    raw = Path(path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    cache_file = _cache_dir() / f"openapi-{digest}-r{_REPAIR_VERSION}.json"
    try:
        cached: dict[str, Any] = json.loads(cache_file.read_text(encoding="utf-8"))
        return cached
    except (OSError, ValueError):
        pass  # no cache yet, or a torn/corrupt one: parse again
    spec = _repair(_parse_yaml(raw))
    _write_cache(cache_file, spec)
    return spec


def _cache_dir() -> Path:
    env = os.environ.get(CACHE_DIR_ENV_VAR)
    return Path(env) if env else DEFAULT_CACHE_DIR


def _parse_yaml(raw: bytes) -> Any:
    from ruamel.yaml import YAML  # imported here: only needed on a cache miss

    # The default YAML() is 1.2: unquoted `16:9`, `on`, `off` stay strings (PyYAML's 1.1 breaks them).
    yaml = YAML(typ="safe")
    return yaml.load(raw)


def _write_cache(cache_file: Path, spec: dict[str, Any]) -> None:
    # Written to a temp file then renamed, so parallel test processes never read half a file.
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".openapi-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(spec, fh, separators=(",", ":"))
        os.replace(tmp, cache_file)
    except OSError as exc:  # a read-only checkout still works, just slowly
        logger.warning("Could not write the OpenAPI cache %s: %s", cache_file, exc)


def _repair(document: Any) -> dict[str, Any]:
    """Make the parsed spec plain JSON and acceptable to a strict OAS 3.0 validator."""
    # ruamel resolves unquoted ISO dates (only in `example`s here) to date objects; JSON has none.
    plain: dict[str, Any] = json.loads(json.dumps(document, default=_iso))
    _fix_nullable(plain)
    return plain


def _iso(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {value!r}")


_ANNOTATIONS = {"nullable", "title", "description", "example", "deprecated"}


def _is_bare_nullable(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("nullable") is True and set(schema) <= _ANNOTATIONS


def _fix_nullable(node: Any) -> None:
    if isinstance(node, dict):
        for key in ("anyOf", "oneOf"):
            for member in node[key] if isinstance(node.get(key), list) else []:
                if _is_bare_nullable(member):
                    # 59 of the typeless `nullable: true` schemas are anyOf members titled "null": the
                    # generator's spelling of "or null". Dropping `nullable` there would accept anything.
                    del member["nullable"]
                    member["enum"] = [None]
        if node.get("nullable") is True:
            if "type" not in node:
                # The other typeless `nullable: true` schemas (items, additionalProperties, ...) mean "any
                # value". OAS 3.0.3 gives nullable without type no meaning and strict tools reject it.
                del node["nullable"]
            elif isinstance(node.get("enum"), list) and None not in node["enum"]:
                # OAS 3.0.3 lets `enum` veto null even when nullable, yet Venice's own examples send
                # e.g. `stop_reason: null` against `nullable: true, enum: [stop, length]`.
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            _fix_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _fix_nullable(value)


def _spec_key(spec_file: Path | None) -> str:
    """Return the resolved spec path (the key of every cache here), raising if the file is missing."""
    key = str((spec_file or spec_path()).resolve())
    load_spec(Path(key))
    return key


def _pointer(*segments: str) -> str:
    return "".join("/" + segment.replace("~", "~0").replace("/", "~1") for segment in segments)


@functools.cache
def _registry(key: str) -> Registry[Any]:
    # Opaque resource: resolve JSON pointers into the document without treating the OpenAPI root as a schema.
    resource: Resource[Any] = Resource.opaque(_load_spec_cached(key))
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


@functools.cache
def _validator(key: str, pointer: str) -> Any:
    return OAS30Validator(
        {"$ref": f"{_SPEC_URI}#{pointer}"}, registry=_registry(key), format_checker=oas30_format_checker
    )


def _operation(key: str, method: str, path_template: str) -> Mapping[str, Any] | None:
    op = _load_spec_cached(key).get("paths", {}).get(path_template, {}).get(method.lower())
    return op if isinstance(op, Mapping) else None


def _issues(key: str, pointer: str, instance: Any) -> list[SpecIssue]:
    errors = _validator(key, pointer).iter_errors(instance)
    return [_to_issue(e) for e in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])]


def _to_issue(error: ValidationError) -> SpecIssue:
    location = tuple(error.absolute_path)
    message = _short(error.message)
    keyword = str(error.validator)
    if keyword == "required":
        # jsonschema reports a missing property at its parent; point at the property itself, as zod does.
        match = re.match(r"^'(.+)' is a required property$", error.message)
        if match:
            location = (*location, match.group(1))
            message = "Required"
    elif error.context:
        # anyOf/oneOf: the top-level message repeats the whole instance; the closest branch says why.
        closest = _closest(error)
        message = f"{message} (closest match: {SpecIssue(tuple(closest.absolute_path), _short(closest.message), '')})"
    return SpecIssue(path=location, message=message, keyword=keyword, expected=error.validator_value)


def _closest(error: ValidationError) -> ValidationError:
    """Pick the anyOf/oneOf branch the instance most likely meant, and its innermost complaint."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # A branch whose own `type` failed, or whose `role`/`type` enum (a discriminator in all but name)
    # failed, was not the one meant.
    meant = [
        errors
        for errors in branches.values()
        if not any(
            (e.validator == "type" and not e.relative_path)
            or (e.validator == "enum" and len(e.relative_path) == 1)
            for e in errors
        )
    ] or list(branches.values())
    errors = min(meant, key=len)
    leaf = max(errors, key=lambda e: len(e.absolute_path))
    return _closest(leaf) if leaf.context else leaf


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _not_in_spec(method: str, path_template: str) -> SpecIssue:
    return SpecIssue((), f"{method.upper()} {path_template} is not in the spec", "path")


FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
CONTENT_TYPE_KEYWORD = "contentType"  # SpecIssue.keyword when the body's media type is not one the spec takes


def request_issues(
    method: str,
    path_template: str,
    body: Any,
    *,
    media_type: str = "application/json",
    spec_file: Path | None = None,
) -> list[SpecIssue]:
    """Return the ways a request body breaks the spec (empty when valid or when nothing is specified).

    ``media_type`` is the request's Content-Type without parameters. A form body (multipart or
    urlencoded) is a mapping of field name to str, or to bytes for a file part: text fields are
    coerced to the types the spec declares (form fields are all strings on the wire), and bytes pass
    as ``type: string, format: binary``.
    """
    key = _spec_key(spec_file)
    op = _operation(key, method, path_template)
    if op is None:
        return [_not_in_spec(method, path_template)]
    request_body = op.get("requestBody", {})
    content = request_body.get("content", {})
    if not content:
        return []  # no body specified (GET): nothing to check here
    if body is None and not request_body.get("required", False):
        return []
    if media_type not in content:
        if body is not None:
            accepted = ", ".join(content)
            return [
                SpecIssue(
                    (),
                    f"content type {media_type or '(none)'} is not accepted; the spec takes {accepted}",
                    CONTENT_TYPE_KEYWORD,
                    list(content),
                )
            ]
        media_type = "application/json" if "application/json" in content else next(iter(content))
    pointer = _pointer("paths", path_template, method.lower(), "requestBody", "content", media_type, "schema")
    if media_type in FORM_MEDIA_TYPES and isinstance(body, Mapping):
        types = _form_field_types(key, pointer)
        body = {
            name: _coerce_query([value], {"type": types.get(name)}) if isinstance(value, str) else value
            for name, value in body.items()
        }
    return _issues(key, pointer, body)


@functools.cache
def _form_field_types(key: str, pointer: str) -> dict[str, str]:
    """Map the properties of a form body's schema to their declared types, following $ref and allOf."""
    spec = _load_spec_cached(key)

    def resolve(node: Any) -> Any:
        while isinstance(node, Mapping) and str(node.get("$ref", "")).startswith("#/"):
            node = _lookup(spec, node["$ref"][1:])
        return node

    types: dict[str, str] = {}

    def collect(schema: Any) -> None:
        schema = resolve(schema)
        if not isinstance(schema, Mapping):
            return
        for part in schema.get("allOf", []):
            collect(part)
        for name, raw in schema.get("properties", {}).items():
            prop = resolve(raw)
            if isinstance(prop, Mapping) and isinstance(prop.get("type"), str):
                types.setdefault(name, prop["type"])

    collect(_lookup(spec, pointer))
    return types


def _lookup(document: Any, pointer: str) -> Any:
    """Follow a JSON pointer (``/a/b~1c``) into a document."""
    node = document
    for segment in pointer.lstrip("/").split("/"):
        node = node[segment.replace("~1", "/").replace("~0", "~")]
    return node


def validate_request(
    method: str,
    path_template: str,
    body: Any,
    *,
    media_type: str = "application/json",
    spec_file: Path | None = None,
) -> list[str]:
    """Validate a request body (JSON unless ``media_type`` says otherwise); return error strings, empty when valid."""
    issues = request_issues(method, path_template, body, media_type=media_type, spec_file=spec_file)
    return [str(issue) for issue in issues]


def query_issues(
    method: str, path_template: str, query: Mapping[str, list[str]], *, spec_file: Path | None = None
) -> list[SpecIssue]:
    """Return the ways query parameters (raw strings, coerced per the spec's types) break the spec."""
    key = _spec_key(spec_file)
    op = _operation(key, method, path_template)
    if op is None:
        return [_not_in_spec(method, path_template)]
    issues: list[SpecIssue] = []
    for index, param in enumerate(op.get("parameters", [])):
        name = param.get("name")
        if param.get("in") != "query" or name not in query:
            continue
        value = _coerce_query(query[name], param.get("schema", {}))
        pointer = _pointer("paths", path_template, method.lower(), "parameters", str(index), "schema")
        issues += [
            SpecIssue((name, *i.path), i.message, i.keyword, i.expected) for i in _issues(key, pointer, value)
        ]
    return issues


def _coerce_query(values: list[str], schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        # Repeated parameters and comma-separated values are both accepted by Venice.
        return [part for value in values for part in value.split(",") if part]
    raw = values[-1]
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw  # left a string, so the validator reports the type error
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def validate_response(
    method: str, path_template: str, status: int, body: Any, *, spec_file: Path | None = None
) -> list[str]:
    """Validate a JSON response body against the spec; return error strings, empty when valid."""
    key = _spec_key(spec_file)
    op = _operation(key, method, path_template)
    if op is None:
        return [str(_not_in_spec(method, path_template))]
    responses = op.get("responses", {})
    status_key = str(status) if str(status) in responses else "default"
    if status_key not in responses:
        return [f"{method.upper()} {path_template} documents no {status} response"]
    if "application/json" not in responses[status_key].get("content", {}):
        return []
    pointer = _pointer(
        "paths",
        path_template,
        method.lower(),
        "responses",
        status_key,
        "content",
        "application/json",
        "schema",
    )
    return [str(issue) for issue in _issues(key, pointer, body)]


@functools.cache
def _path_patterns(key: str) -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for template in _load_spec_cached(key).get("paths", {}):
        regex = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        patterns.append((re.compile(f"^{regex}$"), template))
    # Literal paths beat templates: /api_keys/rate_limits, not /api_keys/{id}.
    patterns.sort(key=lambda item: (item[1].count("{"), -len(item[1])))
    return patterns


def path_template_for(path: str, *, spec_file: Path | None = None) -> str | None:
    """Map a concrete path (``/characters/foo``, with or without ``/api/v1``) to its spec template, or None."""
    key = _spec_key(spec_file)
    concrete = path.split("?", 1)[0]
    if concrete.startswith("/api/v1/"):
        concrete = concrete[len("/api/v1") :]
    if len(concrete) > 1:
        concrete = concrete.rstrip("/")
    for pattern, template in _path_patterns(key):
        if pattern.match(concrete):
            return template
    return None
