"""The burn-in's only way in: the public compute, network and metadata APIs over HTTP.

``ApiClient`` acts as one project on the Nova v2.1 and Neutron v2.0 APIs: with a
Keystone token (``auth``: the project is the token's) or else the noauth headers the
services read; it reads the metadata service as a signing proxy does. Errors surface
as ``ApiError`` with the status and body.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from astara.wire.instance_signature import sign


def _reason(body: str) -> str:
    """The API's own message (Neutron's ``NeutronError``, Nova's ``{kind: {message}}``),
    else the body's first 200 characters on one line."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"][:200]
    return " ".join(body.split())[:200]


class ApiError(Exception):
    def __init__(self, method: str, url: str, status: int, body: str):
        self.status = status
        self.reason = _reason(body)
        super().__init__(f"{method} {url}: {status} {body[:300]}")


class ApiClient:
    def __init__(self, compute_url: str, network_url: str, metadata_url: str,
                 project_id: str, user_id: str = "burnin", metadata_secret: str = "",
                 timeout: float = 30.0, auth: httpx.Auth | None = None):
        """``auth``: a Keystone token on each call (``cloud_auth``); None: noauth."""
        self.project_id = project_id  # the token's, under Keystone
        self.headers = {} if auth is not None else {
            "X-Project-Id": project_id, "X-User-Id": user_id, "X-Roles": "member,reader"}
        token = {"auth": auth} if auth is not None else {}
        self.compute = httpx.Client(base_url=compute_url.rstrip("/") + "/v2.1",
                                    timeout=timeout, **token)
        self.network = httpx.Client(base_url=network_url.rstrip("/") + "/v2.0",
                                    timeout=timeout, **token)
        self.metadata_http = httpx.Client(base_url=metadata_url.rstrip("/"), timeout=timeout)
        self.metadata_secret = metadata_secret

    def close(self) -> None:
        for client in (self.compute, self.network, self.metadata_http):
            client.close()

    def _call(self, client: httpx.Client, method: str, path: str, ok=(200,),
              **kw) -> httpx.Response:
        resp = client.request(method, path, headers=self.headers, **kw)
        if resp.status_code not in ok:
            raise ApiError(method, str(resp.url), resp.status_code, resp.text)
        return resp

    # compute -----------------------------------------------------------------------
    def unauthenticated_status(self) -> int:
        return self.compute.get("/servers", auth=None).status_code  # without the token

    def flavors(self) -> list[dict]:
        return self._call(self.compute, "GET", "/flavors/detail").json()["flavors"]

    def images(self) -> list[dict]:
        return self._call(self.compute, "GET", "/images/detail").json()["images"]

    def create_server(self, name: str, image: str, flavor: str, net_id: str,
                      user_data: bytes = b"", metadata: dict | None = None) -> dict:
        body: dict[str, Any] = {"name": name, "imageRef": image, "flavorRef": flavor,
                                "networks": [{"uuid": net_id}], "metadata": metadata or {}}
        if user_data:
            body["user_data"] = base64.b64encode(user_data).decode()
        return self._call(self.compute, "POST", "/servers", ok=(202,),
                          json={"server": body}).json()["server"]

    def server(self, server_id: str) -> dict | None:
        resp = self._call(self.compute, "GET", f"/servers/{server_id}", ok=(200, 404))
        return None if resp.status_code == 404 else resp.json()["server"]

    def servers(self) -> list[dict]:
        return self._call(self.compute, "GET", "/servers/detail").json()["servers"]

    def action(self, server_id: str, body: dict) -> None:
        self._call(self.compute, "POST", f"/servers/{server_id}/action", ok=(202,), json=body)

    def delete_server(self, server_id: str) -> None:
        self._call(self.compute, "DELETE", f"/servers/{server_id}", ok=(204, 404))

    # network -----------------------------------------------------------------------
    def create_network(self, name: str, cidr: str) -> tuple[dict, dict]:
        net = self._call(self.network, "POST", "/networks", ok=(201,),
                         json={"network": {"name": name}}).json()["network"]
        subnet = self._call(self.network, "POST", "/subnets", ok=(201,), json={"subnet": {
            "network_id": net["id"], "ip_version": 4, "cidr": cidr,
            "name": name}}).json()["subnet"]
        return net, subnet

    def networks(self) -> list[dict]:
        """This project's networks only: an admin's token would list every project's."""
        return self._call(self.network, "GET", "/networks",
                          params={"project_id": self.project_id}).json()["networks"]

    def delete_network(self, net_id: str) -> None:
        self._call(self.network, "DELETE", f"/networks/{net_id}", ok=(204, 404))

    # metadata ----------------------------------------------------------------------
    def metadata(self, instance_id: str, path: str) -> httpx.Response:
        """As the orchestrator's proxy asks: the instance, its port's project, the port
        and its address (from the port record), the id signed."""
        port = self._call(self.network, "GET", "/ports",
                          params={"device_id": instance_id}).json()["ports"][0]
        return self.metadata_http.get(path, headers={
            "X-Instance-ID": instance_id, "X-Tenant-ID": port["project_id"],
            "X-Astara-Port-ID": port["id"],
            "X-Forwarded-For": port["fixed_ips"][0]["ip_address"],
            "X-Instance-ID-Signature": sign(self.metadata_secret, instance_id)})
