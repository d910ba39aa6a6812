"""Open311 GeoReport v2 client: how the bridge talks to the core 1022 case system (any compliant
endpoint, not only core1022). Failures are sorted into "try again later" and "the core said no"."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

MAX_DESCRIPTION = 4000  # GeoReport v2 limit


class CoreUnavailable(Exception):
    """Transient: network error, timeout, 5xx, 429. The delivery is retried with backoff."""


class CoreRejected(Exception):
    """Permanent: the core refused the request (4xx with an Open311 error). Retrying will not help."""


def _open311_errors(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, list):
            return "; ".join(f"{e.get('code')}: {e.get('description')}" for e in body if isinstance(e, dict))
        if isinstance(body, dict):
            return str(body.get("description") or body.get("detail") or body)
    except ValueError:
        pass
    return resp.text[:300]


class Open311Client:
    def __init__(self, base_url: str, api_key: str, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = httpx.Client(timeout=timeout_s, transport=transport, headers={"User-Agent": "1022-watch-bridge"})

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw) -> Any:
        url = f"{self.base_url}/{path}"
        try:
            resp = self.http.request(method, url, **kw)
        except httpx.HTTPError as e:
            raise CoreUnavailable(f"{method} {url}: {type(e).__name__}: {e}") from e
        if resp.status_code == 429 or resp.status_code >= 500:
            raise CoreUnavailable(f"{method} {url}: HTTP {resp.status_code}: {_open311_errors(resp)}")
        if resp.status_code >= 400:
            raise CoreRejected(f"HTTP {resp.status_code}: {_open311_errors(resp)}")
        try:
            return resp.json()
        except ValueError as e:
            raise CoreUnavailable(f"{method} {url}: answer is not JSON: {resp.text[:200]!r}") from e

    def create_request(self, *, service_code: str, lat: float, lon: float, description: str,
                       address: str | None = None, media_url: str | None = None,
                       attributes: dict[str, str] | None = None) -> dict:
        """POST requests.json; returns the first answer element ({service_request_id} or {token})."""
        form = {"api_key": self.api_key, "service_code": service_code, "lat": f"{lat:.6f}", "long": f"{lon:.6f}",
                "description": description[:MAX_DESCRIPTION]}
        if address:
            form["address_string"] = address
        if media_url:
            form["media_url"] = media_url
        for k, v in (attributes or {}).items():
            form[f"attribute[{k}]"] = v
        answer = self._call("POST", "requests.json", data=form)
        if not isinstance(answer, list) or not answer or not isinstance(answer[0], dict):
            raise CoreUnavailable(f"unexpected answer to POST requests.json: {answer!r:.200}")
        first = answer[0]
        if not (first.get("service_request_id") or first.get("token")):
            raise CoreUnavailable(f"answer has neither service_request_id nor token: {first!r:.200}")
        return first

    def request_for_token(self, token: str) -> str | None:
        answer = self._call("GET", f"tokens/{token}.json")
        if isinstance(answer, list) and answer and answer[0].get("service_request_id"):
            return str(answer[0]["service_request_id"])
        return None

    def get_requests(self, service_request_ids: list[str]) -> list[dict]:
        if not service_request_ids:
            return []
        answer = self._call("GET", "requests.json", params={"service_request_id": ",".join(service_request_ids)})
        return answer if isinstance(answer, list) else []

    def find_by_marker(self, marker: str, service_code: str, since: datetime) -> str | None:
        """Look for a request we may already have created: our id travels in the description, which every
        GeoReport v2 server returns (attributes are not returned by GET requests)."""
        answer = self._call("GET", "requests.json", params={"service_code": service_code,
                                                            "start_date": since.isoformat(timespec="seconds")})
        for req in answer if isinstance(answer, list) else []:
            if marker in (req.get("description") or ""):
                return str(req.get("service_request_id"))
        return None
