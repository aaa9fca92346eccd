"""Where an HTTP request ends, and how a malformed or oversized one is refused.

``Framing`` finds the end of a request (line, headers, a body by Content-Length or
chunks) in the bytes read so far, within the limits below, so the bounded worker
(``heartml.serving.bounded_worker``) can hand a thread only a whole request. A refusal
is the API's JSON error and quotes nothing the client sent.
"""

from __future__ import annotations

import json
import re

from gunicorn.http import errors as http_errors

from heartml.serving.api import MAX_BODY_BYTES, error_body

LIMIT_REQUEST_LINE = 8190  # gunicorn's largest; functions-framework sets 0 (no limit)
LIMIT_HEADER_FIELDS = 100
LIMIT_HEADER_FIELD_BYTES = 8190
LIMIT_HEAD_BYTES = 32 * 1024  # request line and headers together
LIMIT_CHUNK_LINE = 1024
# The characters an HTTP method (a token) may start with: anything else (TLS, binary)
# cannot be a request, and is refused on its first byte.
TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
REASONS = {
    400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 413: "Content Too Large",
    414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}  # fmt: skip
MALFORMED_HEADERS = (
    "are malformed or ambiguous (a header given twice, Content-Length with Transfer-Encoding, ...)"
)

# A line feed without its carriage return, in a head: HTTP/1.1 lines end in CRLF.
BARE_LF = re.compile(rb"(?<!\r)\n")


class Refused(Exception):
    """A request answered with an error before it reached the function."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{status} {field}: {message}")
        self.status, self.field, self.message = status, field, message


def refusal_bytes(refusal: Refused, extra_headers: str = "") -> bytes:
    """The whole HTTP answer to a refused request: the API's JSON error, then close."""
    body = json.dumps(error_body(refusal.field, refusal.message)).encode()
    reason = REASONS.get(refusal.status, "Error")
    return (
        f"HTTP/1.1 {refusal.status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra_headers}\r\n"
    ).encode() + body


def refusal_for(exc: BaseException) -> Refused:
    """The JSON refusal for an error gunicorn's parser raised; never its text (it quotes)."""
    e = http_errors
    table: list[tuple[tuple[type, ...], Refused]] = [
        ((e.InvalidResponseHeader, e.InvalidResponseHeaderName), Refused(500, "server", "internal error")),  # noqa: E501
        ((e.LimitRequestLine,), Refused(414, "request line", f"is longer than {LIMIT_REQUEST_LINE} bytes")),  # noqa: E501
        ((e.LimitRequestHeaders,), Refused(431, "headers", f"are more than {LIMIT_HEADER_FIELDS} or one is longer than {LIMIT_HEADER_FIELD_BYTES} bytes")),  # noqa: E501
        ((e.InvalidRequestMethod,), Refused(400, "method", "is not a valid HTTP method")),
        ((e.InvalidHTTPVersion,), Refused(400, "request line", "names an HTTP version this server does not speak; use HTTP/1.1")),  # noqa: E501
        ((e.InvalidRequestLine, e.InvalidProxyLine), Refused(400, "request line", "is malformed")),
        ((e.UnsupportedTransferCoding,), Refused(501, "Transfer-Encoding", "is not supported; send chunked or a Content-Length")),  # noqa: E501
        ((e.InvalidChunkSize, e.ChunkMissingTerminator, e.InvalidChunkExtension), Refused(400, "body", "has a malformed chunk")),  # noqa: E501
        ((e.ExpectationFailed,), Refused(417, "Expect", "is not supported")),
        ((e.ForbiddenProxyRequest,), Refused(403, "request", "is forbidden")),
        ((e.InvalidHeader, e.InvalidHeaderName, e.ObsoleteFolding, e.InvalidSchemeHeaders), Refused(400, "headers", MALFORMED_HEADERS)),  # noqa: E501
        ((e.NoMoreData,), Refused(400, "body", "is shorter than its framing says")),
    ]  # fmt: skip
    for kinds, refusal in table:
        if isinstance(exc, kinds):
            return refusal
    return Refused(500, "server", "internal error")


class Framing:
    """Where the request at the start of a buffer ends, found as its bytes arrive.

    Only the framing is read here (the head's end, Content-Length or chunks); gunicorn's
    own parser checks everything else once the request is whole, so one set of HTTP
    rules applies. A head whose framing is ambiguous (two Content-Lengths, one with
    Transfer-Encoding, a length that is not a number) is passed on as a request without
    body, for the parser to refuse.
    """

    __slots__ = ("body_bytes", "chunk_at", "chunked", "expects_continue", "head_end", "length")

    def __init__(self) -> None:
        self.head_end: int | None = None
        self.length = 0
        self.chunked = False
        self.chunk_at = 0
        self.body_bytes = 0
        self.expects_continue = False

    def end(self, data: bytearray) -> int | None:
        """The request's end offset in ``data``, or None until more arrives; or ``Refused``."""
        if self.head_end is None and not self._read_head(data):
            return None
        assert self.head_end is not None
        if not self.chunked:
            end = self.head_end + self.length
            return end if len(data) >= end else None
        return self._chunks_end(data)

    def _read_head(self, data: bytearray) -> bool:
        if data[0] not in TOKEN_BYTES:
            raise Refused(400, "request", "is not an HTTP/1.1 request")
        line_end = data.find(b"\r\n", 0, LIMIT_REQUEST_LINE + 2)
        bare_lf = data.find(b"\n", 0, LIMIT_REQUEST_LINE + 2)
        if bare_lf >= 0 and (line_end < 0 or bare_lf < line_end + 1):
            raise Refused(400, "request line", "must end in CRLF")
        if line_end < 0:
            if len(data) > LIMIT_REQUEST_LINE:
                raise Refused(414, "request line", f"is longer than {LIMIT_REQUEST_LINE} bytes")
            return False
        head_end = data.find(b"\r\n\r\n", line_end)
        if BARE_LF.search(data, line_end + 2, len(data) if head_end < 0 else head_end + 2):
            raise Refused(400, "headers", "must each end in CRLF")
        if head_end < 0 and len(data) <= LIMIT_HEAD_BYTES:
            return False
        if head_end < 0 or head_end > LIMIT_HEAD_BYTES:
            raise Refused(431, "headers", f"are longer than {LIMIT_HEAD_BYTES} bytes in all")
        self.head_end = head_end + 4
        lengths, codings = [], []
        for line in bytes(data[line_end + 2 : head_end]).split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings.append(value.strip().lower())
            elif name == b"expect":
                self.expects_continue = value.strip().lower() == b"100-continue"
        if codings and not lengths and codings[-1].rsplit(b",", 1)[-1].strip() == b"chunked":
            self.chunked, self.chunk_at = True, self.head_end
        elif len(lengths) == 1 and not codings and lengths[0].isdigit():
            self.length = int(lengths[0])
            if self.length > MAX_BODY_BYTES:
                raise Refused(413, "body", f"is larger than {MAX_BODY_BYTES} bytes")
        return True

    def _chunks_end(self, data: bytearray) -> int | None:
        while True:
            line_end = data.find(b"\r\n", self.chunk_at, self.chunk_at + LIMIT_CHUNK_LINE)
            if line_end < 0:
                if len(data) - self.chunk_at > LIMIT_CHUNK_LINE:
                    raise Refused(400, "body", "has a malformed chunk")
                return None
            size_text = bytes(data[self.chunk_at : line_end]).split(b";", 1)[0].strip()
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise Refused(400, "body", "has a malformed chunk")
            size = int(size_text, 16) if len(size_text) <= 16 else MAX_BODY_BYTES + 1
            self.body_bytes += size
            if self.body_bytes > MAX_BODY_BYTES:
                raise Refused(413, "body", f"is larger than {MAX_BODY_BYTES} bytes")
            if size == 0:  # the last chunk, then trailer lines and an empty line
                if data[line_end + 2 : line_end + 4] == b"\r\n":
                    return line_end + 4
                trailers_end = data.find(b"\r\n\r\n", line_end)
                if trailers_end < 0:
                    if len(data) - line_end > LIMIT_HEAD_BYTES:
                        raise Refused(431, "trailers", f"are longer than {LIMIT_HEAD_BYTES} bytes")
                    return None
                return trailers_end + 4
            following = line_end + 2 + size + 2
            if len(data) < following:
                return None
            self.chunk_at = following
