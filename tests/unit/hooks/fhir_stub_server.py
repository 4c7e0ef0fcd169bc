"""Test helper: a scriptable HTTP server on loopback for failures a real FHIR server cannot produce on demand.

(slow answers, redirects, next links to another host, 5xx). Each test scripts routes; the server records
every request it received, with headers, so tests can prove where the token went.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

Route = Callable[[Request], Response]


@dataclass
class StubFhir:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (path?query, Authorization)

    def json(self, body: Any, status: int = 200, delay: float = 0.0) -> Route:
        def route(_: Request) -> Response:
            if delay:
                time.sleep(delay)
            return Response(json.dumps(body), status=status, mimetype="application/fhir+json")
        return route

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        key = request.full_path.rstrip("?")
        self.seen.append((key, request.headers.get("Authorization")))
        route = self.routes.get(key) or self.routes.get(request.path)
        response = route(request) if route else Response(
            json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}),
            status=404, mimetype="application/fhir+json")
        return response(environ, start_response)


@contextmanager
def stub_fhir(path: str = "/fhir") -> Iterator[StubFhir]:
    stub = StubFhir()
    server = make_server("127.0.0.1", 0, stub, threaded=True)
    stub.base = f"http://127.0.0.1:{server.server_port}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        thread.join(timeout=5)


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "entry": [{"resource": r} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle
