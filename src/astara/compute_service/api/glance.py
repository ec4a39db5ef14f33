"""A read-only Glance v2 image API over the compute catalog, under ``/image``.

Clients (the ``openstack`` command, openstacksdk) resolve ``--image NAME`` through the
catalog's ``image`` service: version discovery at the endpoint, ``GET
/v2/images/{id}``, ``GET /v2/images?name=...``. This serves those from
``catalog.IMAGES`` with the rule booting applies (``catalog.bootable``): a caller
does not see an image it could not boot. Errors are webob's JSON bodies as Glance
sends them (``{"code", "title", "message"}``); anything but GET/HEAD is 405.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from astara.compute_service import catalog
from astara.compute_service.api import errors
from astara.compute_service.api.context import Context

PREFIX = "/image"
VERSION = "v2.16"
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000  # Glance's api_limit_max
MAX_QUERY = 16384  # bytes: room for openstack server list's id=in:<many ids>
STATUSES = frozenset({"queued", "saving", "active", "killed", "deleted", "deactivated",
                      "uploading", "importing", "pending_delete"})
VISIBILITIES = frozenset({"public", "private", "shared", "community", "all"})
# Parameters that are not property filters (Glance ignores or applies them; our images
# are all visible, unprotected, untagged, unshared, so these narrow nothing away).
NON_FILTERS = frozenset({"limit", "marker", "sort_key", "sort_dir", "sort",
                         "member_status"})
TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
          405: "Method Not Allowed"}


class GlanceError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def fault(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": f"{status} {TITLES[status]}", "title": TITLES[status],
                         "message": message}, status_code=status)


# decisions ---------------------------------------------------------------------------
def visibility(image: catalog.Image) -> str:
    return "public" if image.profile != "appliance" else "private"


def view(image: catalog.Image) -> dict:
    """An image as Glance v2 renders one (no data: these are profiles, not disks)."""
    return {"id": image.id, "name": image.name, "status": "active",
            "visibility": visibility(image), "protected": False, "os_hidden": False,
            "owner": None, "container_format": "bare", "disk_format": "raw",
            "min_disk": image.min_disk, "min_ram": image.min_ram, "size": None,
            "virtual_size": None, "checksum": None, "os_hash_algo": None,
            "os_hash_value": None, "tags": [], "created_at": catalog.CREATED,
            "updated_at": catalog.CREATED, "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file", "schema": "/v2/schemas/image"}


def _values(raw: str) -> set[str]:
    """Glance's ``in:`` operator: ``name=in:a,b`` is either."""
    return set(raw[3:].split(",")) if raw.startswith("in:") else {raw}


def _matches(image: catalog.Image, key: str, raw: str) -> bool:
    if key in ("id", "name"):
        return getattr(image, key) in _values(raw)
    if key == "status":
        if raw not in STATUSES:
            raise GlanceError(400, f"Invalid status value: {raw[:64]}")
        return raw == "active"
    if key == "visibility":
        if raw not in VISIBILITIES:
            raise GlanceError(400, f"Invalid visibility value: {raw[:64]}")
        return raw in ("all", visibility(image))
    if key == "os_hidden":
        return raw.lower() != "true"
    if key == "protected":
        return raw.lower() == "false"
    return False  # a property filter: our images have no properties (nor tags, owners)


def listing(params: list[tuple[str, str]], admin: bool) -> tuple[list[catalog.Image],
                                                                 str | None]:
    """The images a caller's query selects (in the catalog's order) and the marker of
    the next page (None: last page). Raises GlanceError for a bad limit or marker."""
    query = dict(params)
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise GlanceError(400, "limit param must be an integer") from None
    if limit < 0:
        raise GlanceError(400, "limit param must be positive")
    limit = min(limit, MAX_LIMIT)
    images = [i for i in catalog.IMAGES.values() if catalog.bootable(i, admin)
              and all(_matches(i, k, v) for k, v in params if k not in NON_FILTERS)]
    marker = query.get("marker")
    if marker is not None:
        ids = [i.id for i in images]
        if marker not in ids:
            raise GlanceError(400, f"Invalid marker. Image {marker[:64]} could not be found.")
        images = images[ids.index(marker) + 1:]
    page = images[:limit]
    return page, (page[-1].id if len(images) > limit and page else None)


def find(image_id: str, admin: bool) -> catalog.Image:
    found = catalog.IMAGES.get(image_id)
    if found is None or not catalog.bootable(found, admin):
        raise GlanceError(404, f"No image found with ID {image_id[:64]}")
    return found


# HTTP ------------------------------------------------------------------------------------
def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _caller(request: Request) -> Context:
    try:
        ctx = Context.from_headers(request.headers)
    except errors.ComputeFault as exc:
        raise GlanceError(400, exc.message) from None
    if ctx is None:
        raise GlanceError(401, "The request you have made requires authentication.")
    return ctx


def _guarded(work):
    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return fault(405, "The image service of Astara is read-only.")
        try:
            return work(request)
        except GlanceError as exc:
            return fault(exc.status, exc.message)
    return endpoint


def versions(request: Request) -> Response:
    return JSONResponse({"versions": [{"id": VERSION, "status": "CURRENT", "links": [
        {"rel": "self", "href": f"{_root(request)}/v2/"}]}]})


def images(request: Request) -> Response:
    if len(request.url.query) > MAX_QUERY:
        raise GlanceError(400, f"The query is longer than {MAX_QUERY} characters.")
    ctx = _caller(request)
    params = list(request.query_params.multi_items())
    page, next_marker = listing(params, ctx.is_admin)
    body: dict = {"images": [view(i) for i in page], "first": "/v2/images",
                  "schema": "/v2/schemas/images"}
    if next_marker is not None:
        kept = [(k, v) for k, v in params if k != "marker"]
        body["next"] = "/v2/images?" + urlencode([*kept, ("marker", next_marker)])
    return JSONResponse(body)


def image(request: Request) -> Response:
    ctx = _caller(request)
    return JSONResponse(view(find(request.path_params["id"], ctx.is_admin)))


def unknown(request: Request) -> Response:
    raise GlanceError(404, "The resource could not be found.")


ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def routes() -> list[Route]:
    return [Route(PREFIX, _guarded(versions), methods=ANY),
            Route(f"{PREFIX}/", _guarded(versions), methods=ANY),
            Route(f"{PREFIX}/v2/images", _guarded(images), methods=ANY),
            Route(f"{PREFIX}/v2/images/{{id}}", _guarded(image), methods=ANY),
            Route(f"{PREFIX}/{{rest:path}}", _guarded(unknown), methods=ANY)]
