"""The version documents: ``GET /`` lists Octavia's API versions v2.0–v2.30 (all served
by the same v2 routes: Octavia versions by feature, not by header); ``GET /v2`` and
``/v2.0`` answer the bare string Octavia answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# (minor version, date it appeared in Octavia)
_VERSIONS = [
    (0, "2016-12-11T00:00:00Z"), (1, "2018-04-20T00:00:00Z"), (2, "2018-07-31T00:00:00Z"),
    (3, "2018-12-18T00:00:00Z"), (4, "2018-12-19T00:00:00Z"), (5, "2019-01-21T00:00:00Z"),
    (6, "2019-01-25T00:00:00Z"), (7, "2018-01-25T12:00:00Z"), (8, "2019-02-12T00:00:00Z"),
    (9, "2019-03-04T00:00:00Z"), (10, "2019-03-05T00:00:00Z"), (11, "2019-06-24T00:00:00Z"),
    (12, "2019-09-11T00:00:00Z"), (13, "2019-09-13T00:00:00Z"), (14, "2019-11-10T00:00:00Z"),
    (15, "2020-03-10T00:00:00Z"), (16, "2020-03-15T00:00:00Z"), (17, "2020-04-29T00:00:00Z"),
    (18, "2020-04-29T01:00:00Z"), (19, "2020-05-12T00:00:00Z"), (20, "2020-08-02T00:00:00Z"),
    (21, "2020-09-03T00:00:00Z"), (22, "2020-09-04T00:00:00Z"), (23, "2020-09-07T00:00:00Z"),
    (24, "2020-10-15T00:00:00Z"), (25, "2021-10-02T00:00:00Z"), (26, "2022-08-29T00:00:00Z"),
    (27, "2023-05-05T00:00:00Z"), (28, "2023-11-08T00:00:00Z"), (29, "2024-10-15T00:00:00Z"),
    (30, "2025-02-26T00:00:00Z"),
]


def document(base_url: str) -> dict:
    href = f"{base_url.rstrip('/')}/v2"
    last = _VERSIONS[-1][0]
    return {"versions": [{"id": f"v2.{minor}",
                          "status": "CURRENT" if minor == last else "SUPPORTED",
                          "updated": updated, "links": [{"href": href, "rel": "self"}]}
                         for minor, updated in _VERSIONS]}


async def root(request: Request) -> Response:
    return JSONResponse(document(str(request.base_url)))


async def v2(request: Request) -> Response:
    return JSONResponse("v2")
