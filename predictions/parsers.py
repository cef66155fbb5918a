"""Request parsing for the API: strict JSON, CSV bodies, and the body-size limit.

DRF's JSONParser already refuses NaN and Infinity (STRICT_JSON); this one also turns a
pathologically nested document (RecursionError, not a ValueError) into a 400 instead of a 500.
The size limit is checked on Content-Length before anything is read, because DRF hands the
raw stream to multipart parsing, where Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply
to files and would answer 400 rather than 413 anyway.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class StrictJSONParser(JSONParser):
    strict = True

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None


class CSVParser(BaseParser):
    """A raw `text/csv` body: returned as bytes, read by predictions.batch."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read(settings.MAX_REQUEST_BYTES + 1) if stream is not None else b""


def check_body_size(request) -> None:
    """413 when the declared body is larger than MAX_REQUEST_BYTES."""
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
