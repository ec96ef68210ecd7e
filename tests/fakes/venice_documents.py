"""``POST /augment/text-parser`` of the fake Venice: a document's text and its token count.

``DocumentEndpoints`` is mixed into ``FakeVenice`` (over ``MediaEndpoints``, whose balance and
payment check it shares). It reads the documents ``document_samples`` makes (and plain text),
answers a damaged or unsupported file with a 400 as Venice does, and charges Venice's documented
price per document read. Its settings are plain attributes tests change freely.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from tests.fakes.document_samples import DocumentError, extract_text
from tests.fakes.venice_chat import estimate_tokens
from tests.fakes.venice_errors import default_error_body, error_response, field_error, payload_too_large
from tests.fakes.venice_media import MediaEndpoints

if TYPE_CHECKING:
    from tests.fakes.venice import Call

__all__ = ["DOCUMENT_USD", "DocumentEndpoints"]

MB = 1024 * 1024
DOCUMENT_USD = 0.01  # Venice's documentation: $0.01 per request


class DocumentEndpoints(MediaEndpoints):
    """Venice's text parser for the fake."""

    def _init_documents(self) -> None:
        """Set the parser's state to its defaults (called from FakeVenice.__init__)."""
        self.max_document_bytes: int = 25 * MB  # a larger file is a 413 PAYLOAD_TOO_LARGE
        self.document_tokens: int | None = None  # the token count reported; from the text when None
        self.documents_read: int = 0  # documents parsed (and charged) so far

    def _document_routes(self) -> list[tuple[str, str, Any]]:
        """Return (method, path template, handler) for the parser."""
        return [("POST", "/augment/text-parser", self._text_parser)]

    def _text_parser(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        upload = call.files.get("file")
        if upload is None:
            return error_response(
                400, field_error("file", "Required: upload the document as a file"), headers
            )
        if len(upload.data) > self.max_document_bytes:
            return error_response(413, payload_too_large(self.max_document_bytes), headers)
        try:
            text = extract_text(upload.data, upload.filename or "", upload.content_type)
        except DocumentError as exc:
            return error_response(400, field_error("file", str(exc)), headers)
        if not self.balance.get("canConsume", True):
            error = default_error_body(402, "")
            return error_response(402, error if isinstance(error, dict) else {"error": error}, headers)
        self.documents_read += 1
        self._spend(DOCUMENT_USD)
        tokens = self.document_tokens if self.document_tokens is not None else estimate_tokens(text)
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("response_format") == "text":
            return PlainTextResponse(text, headers=headers)
        return JSONResponse({"text": text, "tokens": max(0, math.ceil(tokens))}, headers=headers)
