"""Reading one uploaded file from a multipart body, bounded and in memory only.

Starlette's own form parser spools large files to a temporary file on disk; the service
promises never to store audio, so the body is parsed here as it streams in, the ``file`` part
kept in a ``bytearray``, and reading stops as soon as the declared or streamed size passes the
limit (HTTP 413).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

FIELD = "file"
#: How the OpenAPI page describes the upload (the endpoint reads the raw body itself).
UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "An audio file: wav, flac, ogg or mp3 (any rate, mono or stereo).",
                        }
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class Upload:
    """The uploaded file: its name as the client gave it (never used as a path) and its bytes."""

    filename: str
    content_type: str
    data: bytes


class _PartCollector:
    """Callbacks for :class:`MultipartParser` that keep the first part named ``file``."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.upload: Upload | None = None
        self._headers: dict[str, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._data = bytearray()
        self._wanted = False
        self._params: dict[bytes, bytes] = {}

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers.clear()
        self._data = bytearray()
        self._wanted = False

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        self._wanted = self.upload is None and params.get(b"name") == FIELD.encode()
        self._params = params

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._wanted:
            return  # other form fields are ignored, not buffered
        self._data.extend(data[start:end])
        if len(self._data) > self.max_file_bytes:
            raise UploadTooLarge()

    def _part_end(self) -> None:
        if not self._wanted:
            return
        filename = self._params.get(b"filename", b"").decode("utf-8", "replace")
        content_type = self._headers.get("content-type", b"").decode("latin-1")
        self.upload = Upload(filename=filename[:200], content_type=content_type, data=bytes(self._data))
        self._wanted = False


class UploadTooLarge(Exception):
    """The file part grew past the limit while streaming in."""


def too_large(limit_bytes: int) -> HTTPException:
    return HTTPException(
        413,
        detail=f"upload too large: the limit is {limit_bytes / 1024 / 1024:.3g} MiB; "
        "send a shorter or compressed (flac, ogg) recording",
    )


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise HTTPException(
            415,
            detail="send the audio as multipart/form-data with the file in a field named 'file' "
            "(e.g. curl -F file=@clip.wav ...)",
        )
    return boundary


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise HTTPException(400, detail=f"invalid Content-Length header {value!r}") from None


async def read_upload(request: Request, max_file_bytes: int, max_body_bytes: int) -> Upload:
    """The ``file`` part of a multipart request, read into memory with both size limits enforced."""
    boundary = _boundary(request)
    declared = _declared_length(request)
    if declared is not None and declared > max_body_bytes:
        raise too_large(max_file_bytes)
    collector = _PartCollector(max_file_bytes)
    parser = MultipartParser(boundary, collector.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body_bytes:
                raise too_large(max_file_bytes)
            parser.write(chunk)
        parser.finalize()
    except UploadTooLarge:
        raise too_large(max_file_bytes) from None
    except ClientDisconnect:
        # Nobody is left to read an answer; 400 only keeps the log quiet and the process whole.
        raise HTTPException(400, detail="the client disconnected during the upload") from None
    except FormParserError as exc:
        raise HTTPException(400, detail=f"malformed multipart body ({exc}); resend the file") from None
    if collector.upload is None:
        raise HTTPException(422, detail="the multipart body has no field named 'file'; send the audio in it")
    if not collector.upload.data:
        raise HTTPException(422, detail="the uploaded file is empty (0 bytes); send an audio file")
    return collector.upload
