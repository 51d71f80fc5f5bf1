"""The uvicorn server the API runs under: requests its HTTP parser refuses get a problem document too.

uvicorn answers a request it cannot parse (malformed, or a head over the h11 buffer limit when it arrives in
pieces) with ``text/plain`` itself, before the app sees it. ``ProblemH11Protocol`` answers those with
``application/problem+json`` (431 for a head over the limit, else 400); ``uvicorn_config`` sets it, with an
h11 buffer a little above ``Limits.max_header_bytes`` so that the app's own check (``HeaderLimitMiddleware``)
answers first whenever the head arrives whole.
"""

from __future__ import annotations

from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import PROBLEM_JSON, Problem
from api.settings import Limits

#: h11's own buffer limit, used by uvicorn when none is configured.
H11_DEFAULT_BUFFER_BYTES = 16 * 1024
#: Room for the request line and the framing, above ``Limits.max_header_bytes``.
REQUEST_LINE_BYTES = 8 * 1024


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering requests it cannot parse with a problem document."""

    def send_400_response(self, msg: str) -> None:
        limit = self.config.h11_max_incomplete_event_size or H11_DEFAULT_BUFFER_BYTES
        over = len(self.conn.trailing_data[0]) > limit
        status = 431 if over else 400
        problem = Problem(
            title="Request Header Fields Too Large" if over else "Bad Request",
            status=status,
            detail=f"the request head exceeds {limit} bytes" if over else "the request is not valid HTTP/1.1",
        )
        body = problem.model_dump_json(exclude_none=True).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            for event in (
                h11.Response(status_code=status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # the connection is past the point of answering: just close it
            pass
        self.transport.close()


def uvicorn_config(app: Any, host: str, port: int, limits: Limits, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of the service (``sv6d serve``, the end-to-end tests)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=ProblemH11Protocol,
        h11_max_incomplete_event_size=limits.max_header_bytes + REQUEST_LINE_BYTES,
        **options,
    )
