"""Request parsing for the API: strict JSON, CSV bodies, and the body-size limit.

The JSON parser refuses, with a 400 and a short message, what Python's json module would let
through into a 500 or a silent surprise: NaN and Infinity, a pathologically nested document
(RecursionError, not a ValueError), a duplicate key (the last one used to win silently), a
lone UTF-16 surrogate such as "\ud800" (it cannot be encoded back, so echoing or storing it
failed), and an object with more keys than any MindPulse body has (MAX_OBJECT_KEYS: reporting
600,000 unknown keys one by one cost seconds and megabytes).
The size limit is checked on Content-Length before anything is read, because DRF hands the
raw stream to multipart parsing, where Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply
to files and would answer 400 rather than 413 anyway.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


# The widest object MindPulse reads is a dataset row (11 columns); far more keys is an attack.
MAX_OBJECT_KEYS = 100


def _object(pairs: list[tuple[str, object]]) -> dict:
    if len(pairs) > MAX_OBJECT_KEYS:
        raise ParseError(
            f"JSON parse error - an object has more than {MAX_OBJECT_KEYS} keys; "
            "no MindPulse request has that many."
        )
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _value in pairs:
            if key in seen:
                raise ParseError(f"JSON parse error - duplicate key {_shown(key)}.")
            seen.add(key)
    return result


def _constant(name: str):
    raise ParseError(f"JSON parse error - {name} is not a number in JSON.")


def _shown(text: str) -> str:
    """A key for an error message: short, and encodable whatever it held."""
    text = text[:40].encode("utf-8", "backslashreplace").decode("utf-8")
    return json.dumps(text)


def _check_strings(document) -> None:
    """Refuse a lone surrogate anywhere (keys and values), without recursion."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError(
                    "JSON parse error - a string holds a lone UTF-16 surrogate (e.g. \\ud800), "
                    "which is not a character."
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(data: bytes):
    """Parse a JSON body strictly (see the module's docstring); ParseError when refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("JSON parse error - the body is not UTF-8.") from None
    try:
        document = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except RecursionError:
        raise ParseError("JSON parse error - the document is nested too deeply.") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
    _check_strings(document)
    return document


class StrictJSONParser(JSONParser):
    strict = True

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(settings.MAX_REQUEST_BYTES + 1) if stream is not None else b""
        return parse_json(data)


class BoundedMultiPartParser(MultiPartParser):
    """Django's multipart parsing, with its limits (DATA_UPLOAD_MAX_NUMBER_FIELDS: 1,000
    fields) answered as the API's JSON 400 rather than Django's HTML error page."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except (TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig) as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from None


class CSVParser(BaseParser):
    """A raw `text/csv` body: returned as bytes, read by predictions.batch."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read(settings.MAX_REQUEST_BYTES + 1) if stream is not None else b""


def check_body_size(request) -> None:
    """413 when the declared body is larger than MAX_REQUEST_BYTES (requests without a body,
    like GET, are not checked)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    meta = request.META
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError("Invalid Content-Length header.") from None
    limit = settings.MAX_REQUEST_BYTES
    if length > limit:
        raise PayloadTooLarge(
            f"The request body is {length} bytes; the limit is {limit} bytes (MAX_REQUEST_BYTES)."
        )
