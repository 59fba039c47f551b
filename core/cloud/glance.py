"""OpenStack Glance v2: list, show and find images, and where to download them from."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from ..errors import DiskscopeError, DownloadFailed, NetworkError, NotFound
from ..fetch.http import (
    HttpOptions,
    get,
    raise_for_status,
    redact,
    session_for,
)

_IMAGE_URL = re.compile(r"^(?P<endpoint>https?://.+?)/v2/images/(?P<id>[^/?#]+)(?:/file)?/?$")
# Bounds on a listing, far above any real cloud's, so that a server that never stops
# sending pages (or images) cannot exhaust our memory.
MAX_PAGES = 1000
MAX_IMAGES = 100_000
MAX_JSON_BYTES = 64 << 20  # one page of 1000 images is about 2 MiB


@dataclass(frozen=True)
class GlanceImage:
    id: str
    name: str | None
    status: str
    disk_format: str | None
    container_format: str | None
    size: int | None
    virtual_size: int | None
    checksum: str | None  # md5
    os_hash_algo: str | None
    os_hash_value: str | None
    visibility: str | None
    updated_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Any) -> GlanceImage:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise DownloadFailed("The image service sent an image record without an id.")

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        def number(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            id=data["id"], name=text("name"), status=text("status") or "unknown",
            disk_format=text("disk_format"), container_format=text("container_format"),
            size=number("size"), virtual_size=number("virtual_size"), checksum=text("checksum"),
            os_hash_algo=text("os_hash_algo"), os_hash_value=text("os_hash_value"),
            visibility=text("visibility"), updated_at=text("updated_at"), raw=data,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "raw"}


def parse_image_url(url: str) -> tuple[str, str] | None:
    """(endpoint, image id) from `ENDPOINT/v2/images/ID[/file]`, else None."""
    match = _IMAGE_URL.match(url.strip())
    return (match["endpoint"], match["id"]) if match else None


def glance_root(endpoint: str) -> str:
    """The endpoint without the API path a catalog or a user may add (`/v2`, `/v2/images`)."""
    root = endpoint.strip().rstrip("/")
    for suffix in ("/v2/images", "/v2"):
        if root.endswith(suffix):
            return root.removesuffix(suffix)
    return root


def endpoint_from_env() -> str | None:
    return os.environ.get("OS_IMAGE_URL") or None


class GlanceClient:
    def __init__(self, endpoint: str, options: HttpOptions, session: requests.Session | None = None) -> None:
        self.endpoint = glance_root(endpoint)
        self.options = options
        self.session = session or session_for(options)

    def _json(self, path: str, what: str) -> Any:
        url = urljoin(self.endpoint + "/", path.lstrip("/"))
        try:
            with get(self.session, url, self.options, stream=True) as response:
                raise_for_status(response, what)
                body = _bounded_body(response, what)
        except NetworkError as exc:
            raise DownloadFailed(f"Could not reach the image service at {redact(self.endpoint)}: "
                                 f"{exc.problem.value}.") from None  # fmt: skip
        except requests.exceptions.RequestException as exc:
            raise DownloadFailed(f"Could not reach the image service at {redact(self.endpoint)}: "
                                 f"{type(exc).__name__}.") from None  # fmt: skip
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than any record
            raise DownloadFailed(f"The image service sent something that is not JSON for {what}.") from None

    def document(self, path: str, what: str) -> Any:
        """The JSON the endpoint answers a GET of `path` with."""
        return self._json(path, what)

    def image(self, image_id: str) -> GlanceImage:
        return GlanceImage.from_json(self._json(f"/v2/images/{image_id}", f"image {image_id}"))

    def images(self, **filters: str) -> list[GlanceImage]:
        """Every image matching the filters, following `next` links to the end."""
        query = {k: v for k, v in filters.items() if v}
        path = "/v2/images" + (f"?{urlencode(query)}" if query else "")
        found: list[GlanceImage] = []
        seen = {path}
        for _ in range(MAX_PAGES):
            page = self._json(path, "the image list")
            images = page.get("images") if isinstance(page, dict) else None
            if not isinstance(images, list):
                raise DownloadFailed("The image service sent an image list without images.")
            found += [GlanceImage.from_json(i) for i in images]
            if len(found) > MAX_IMAGES:
                raise DownloadFailed(f"The image service listed more than {MAX_IMAGES:,} images; "
                                     "narrow the listing with a filter.")  # fmt: skip
            following = page.get("next")
            if not images or not isinstance(following, str):  # a full last page still has `next`
                return found
            parts = urlsplit(following)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path in seen:
                raise DownloadFailed("The image service sent a page link that leads back to a page "
                                     "already listed, so the listing would never end.")  # fmt: skip
            seen.add(path)
        raise DownloadFailed(f"The image service sent more than {MAX_PAGES:,} pages; narrow the "
                             "listing with a filter.")  # fmt: skip

    def find(self, id_or_name: str) -> GlanceImage:
        """An image by id, or by exact name; an ambiguous name is an error naming the ids."""
        if re.fullmatch(r"[0-9a-fA-F-]{32,36}", id_or_name):
            try:
                return self.image(id_or_name)
            except NotFound:
                pass
        matches = [i for i in self.images(name=id_or_name) if i.name == id_or_name]
        if not matches:
            raise DiskscopeError(f"No image is called or has the id {id_or_name!r}.")
        if len(matches) > 1:
            ids = ", ".join(i.id for i in matches)
            raise DiskscopeError(f"Several images are called {id_or_name!r}: {ids}; give an id.")
        return matches[0]

    def file_url(self, image: GlanceImage) -> str:
        return f"{self.endpoint}/v2/images/{image.id}/file"


def _bounded_body(response: requests.Response, what: str) -> bytes:
    """The body, refused as soon as it grows larger than any real answer."""
    body = bytearray()
    for chunk in response.iter_content(1 << 16):
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise DownloadFailed(f"The image service sent more than {MAX_JSON_BYTES >> 20} MiB for "
                                 f"{what}; no real answer is that large.")  # fmt: skip
    return bytes(body)
