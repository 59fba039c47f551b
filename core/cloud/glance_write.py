"""Glance v2 calls that change something (create, send data, import, patch, delete), and
what the server says about them (import methods, the image schema, metadata definitions).

Each call goes to the endpoint itself, never through a redirect, so the token stays with
the origin it was given for. A 401 is answered by one fresh login (as `http.get` does).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import requests

from ..errors import DiskscopeError, DownloadFailed, NetworkError, NotFound, Unauthorized, UploadFailed
from ..fetch.http import network_problem, redact
from ..text import printable, scrub
from .glance import GlanceClient, GlanceImage

logger = logging.getLogger(__name__)
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
MAX_MESSAGE = 300  # characters of a server's error text quoted to the user
NAMESPACES, IMAGE_TYPE, DEFS = "/v2/metadefs/namespaces", "OS::Glance::Image", "the metadata definitions"
_TAGS = re.compile(r"<[^>]*>")


def server_message(response: requests.Response) -> str:
    """What an error response says, as one short printable line (Glance sends JSON, plain
    text or a small HTML page); empty when it says nothing."""
    try:
        text = response.text[:4096]
    except (requests.exceptions.RequestException, UnicodeDecodeError):
        return ""
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            inner = data["error"] if isinstance(data.get("error"), dict) else data
            text = str(inner.get("message") or inner.get("title") or "")
    except ValueError:
        pass
    words = " ".join(_TAGS.sub(" ", text).split())
    status = f"{response.status_code} {response.reason}"
    while words.startswith(status):  # Glance's pages repeat the status line as their title
        words = words.removeprefix(status).lstrip()
    return printable(scrub(words))[:MAX_MESSAGE]


class GlanceWriter:
    """The calls an upload makes, on a GlanceClient's endpoint, session and options."""

    def __init__(self, client: GlanceClient) -> None:
        self.client = client

    def url(self, path: str) -> str:
        return self.client.endpoint + path

    def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: Any = None,
        data: Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> requests.Response:
        """One request; a status outside `expect` raises UploadFailed (Unauthorized, NotFound)
        with the server's message. A body given as an iterable is sent as it is read, once:
        such a request is never repeated here."""
        options = self.client.options
        renewed = False
        while True:
            sent = dict(headers or {})
            token = options.current_token()
            if token:
                sent["X-Auth-Token"] = token
            try:
                response = self.client.session.request(
                    method, self.url(path), json=json_body, data=data, headers=sent,
                    allow_redirects=False,
                    timeout=timeout or (options.connect_timeout, options.read_timeout),
                )  # fmt: skip
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                raise NetworkError(
                    f"Could not reach the image service at {redact(self.client.endpoint)} for {what}: "
                    f"{network_problem(exc).value}.", network_problem(exc),
                ) from None  # fmt: skip
            except requests.exceptions.RequestException as exc:
                raise UploadFailed(
                    f"The request for {what} could not be made ({type(exc).__name__})."
                ) from None
            if response.status_code == 401 and options.login is not None and not renewed and data is None:
                options.login.invalidate()
                renewed = True
                continue
            if response.status_code in expect:
                return response
            raise status_error(response, what)

    def create(self, fields: dict[str, Any]) -> GlanceImage:
        response = self.request("POST", "/v2/images", "creating the image", json_body=fields)
        return GlanceImage.from_json(_json(response, "the new image"))

    def patch(self, image_id: str, changes: dict[str, Any], what: str) -> GlanceImage:
        ops = [{"op": "replace", "path": f"/{k}", "value": v} for k, v in changes.items()]
        response = self.request("PATCH", f"/v2/images/{image_id}", what, json_body=ops,
                                headers={"Content-Type": PATCH_TYPE})  # fmt: skip
        return GlanceImage.from_json(_json(response, "the image"))

    def delete(self, image_id: str) -> None:
        self.request("DELETE", f"/v2/images/{image_id}", f"deleting image {image_id}")

    def start_import(self, image_id: str, method: dict[str, str]) -> None:
        self.request("POST", f"/v2/images/{image_id}/import", f"importing image {image_id}",
                     json_body={"method": method}, expect=(202,))  # fmt: skip

    def import_methods(self) -> tuple[str, ...]:
        """What `/v2/info/import` offers; nothing when the server has no such call."""
        try:
            info = self.client.document("/v2/info/import", "the import methods")
        except NotFound:
            return ()
        value = (info.get("import-methods") or {}).get("value") if isinstance(info, dict) else None
        return tuple(m for m in value if isinstance(m, str)) if isinstance(value, list) else ()

    def image_schema(self) -> dict[str, Any]:
        schema = self.client.document("/v2/schemas/image", "the image schema")
        if not isinstance(schema, dict):
            raise UploadFailed("The image service sent an image schema that is not an object.")
        return schema

    def metadefs(self) -> dict[str, dict[str, Any]]:
        """The image properties the server's metadata definitions describe, by name (with the
        resource type's prefix applied); empty when it has none or does not answer."""
        found: dict[str, dict[str, Any]] = {}
        try:
            listing = self.client.document(f"{NAMESPACES}?resource_types={IMAGE_TYPE}&limit=200", DEFS)
        except DownloadFailed:
            return found
        for namespace in listing.get("namespaces", []) if isinstance(listing, dict) else []:
            if not isinstance(namespace, dict) or not isinstance(namespace.get("namespace"), str):
                continue
            prefix = next((a.get("prefix") or "" for a in namespace.get("resource_type_associations", [])
                           if isinstance(a, dict) and a.get("name") == IMAGE_TYPE), "")  # fmt: skip
            try:
                properties = self.client.document(f"{NAMESPACES}/{namespace['namespace']}/properties", DEFS)
            except DownloadFailed:
                continue
            for name, spec in (properties.get("properties") or {}).items():
                if isinstance(spec, dict):
                    found[f"{prefix}{name}"] = spec
        return found


def status_error(response: requests.Response, what: str) -> DiskscopeError:
    said = server_message(response)
    detail = f": {said}" if said else ""
    code = response.status_code
    if code in (401, 403):
        return Unauthorized(f"The image service refused {what} ({code} {response.reason}){detail}.", code)
    if code == 404:
        return NotFound(f"The image service has no such image for {what} (404){detail}.", code)
    return UploadFailed(f"The image service answered {code} {response.reason} to {what}{detail}.")


def _json(response: requests.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UploadFailed(f"The image service sent something that is not JSON for {what}.") from None
