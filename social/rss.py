"""RSS 2.0 and Atom news feeds, parsed with the standard library (xml.etree).

configs/social.yaml::

    - name: news-hcm
      kind: rss
      url: https://example.vn/rss/thoi-su.rss
      interval_s: 300

A post is the item's title and summary (HTML removed); its id the item's guid/id (or link); its time the
pubDate/updated/published (a time without offset is taken as city time, +07:00). An item without any time
gets the time it was first seen.

Cursor (JSON): ``newest`` — the newest item time already read — and ``ids`` — the ids of the items read at
that newest time plus the ids of undated items (bounded). An item is new when it is newer than ``newest``,
or as new and not in ``ids``. So a restart neither skips nor repeats an item; an item that appears later
with a time older than ``newest`` is taken as already read (feeds are written newest first). ``etag`` /
``modified`` make the request conditional (304: nothing new).
"""
from __future__ import annotations

import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable

import httpx
from pydantic import ValidationError

from social.sources import FetchResult, Post, PostSource, Rejected, SourceError, _reason, register_source

__all__ = ["RssSource", "parse_feed", "FeedItem"]

_ICT = timezone(timedelta(hours=7))
_TAG = re.compile(r"<[^>]+>")
_MAX_IDS = 1000
_NS_ATOM = "{http://www.w3.org/2005/Atom}"
_NS_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_NS_DC = "{http://purl.org/dc/elements/1.1/}"


class FeedItem(dict):
    """id, title, summary, link, published (datetime | None), author."""


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _strip_html(s: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", html.unescape(s))).split())


def _when(s: str) -> datetime | None:
    s = (s or "").strip()
    if not s:
        return None
    try:
        dt = parsedate_to_datetime(s)  # RFC 822 (RSS)
    except (TypeError, ValueError, IndexError):
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))  # RFC 3339 (Atom)
        except ValueError:
            return None
    return dt.replace(tzinfo=_ICT) if dt.tzinfo is None else dt


def parse_feed(xml: bytes | str) -> list[FeedItem]:
    """Items of an RSS 2.0 or Atom document, in document order. Raises ValueError if it is neither."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML: {e}") from None
    out: list[FeedItem] = []
    if root.tag == f"{_NS_ATOM}feed":
        for e in root.findall(f"{_NS_ATOM}entry"):
            link = ""
            for l in e.findall(f"{_NS_ATOM}link"):
                if l.get("rel", "alternate") == "alternate":
                    link = l.get("href", "")
                    break
            summary = _text(e.find(f"{_NS_ATOM}summary")) or _text(e.find(f"{_NS_ATOM}content"))
            out.append(FeedItem(
                id=_text(e.find(f"{_NS_ATOM}id")) or link, title=_strip_html(_text(e.find(f"{_NS_ATOM}title"))),
                summary=_strip_html(summary), link=link or None,
                published=_when(_text(e.find(f"{_NS_ATOM}published")) or _text(e.find(f"{_NS_ATOM}updated"))),
                author=_text(e.find(f"{_NS_ATOM}author/{_NS_ATOM}name")) or None))
        return out
    channel = root.find("channel") if root.tag == "rss" else (root if root.tag.endswith("RDF") else None)
    if channel is None:
        raise ValueError(f"neither RSS nor Atom (root element {root.tag!r})")
    items = channel.findall("item") or root.findall("{http://purl.org/rss/1.0/}item")
    for it in items:
        link = _text(it.find("link")) or _text(it.find("{http://purl.org/rss/1.0/}link"))
        summary = _text(it.find("description")) or _text(it.find(f"{_NS_CONTENT}encoded"))
        out.append(FeedItem(
            id=_text(it.find("guid")) or link or _text(it.find("title")),
            title=_strip_html(_text(it.find("title")) or _text(it.find("{http://purl.org/rss/1.0/}title"))),
            summary=_strip_html(summary), link=link or None,
            published=_when(_text(it.find("pubDate")) or _text(it.find(f"{_NS_DC}date"))),
            author=_text(it.find("author")) or _text(it.find(f"{_NS_DC}creator")) or None))
    return out


@register_source("rss")
class RssSource(PostSource):
    def __init__(self, url: str, name: str = "rss", *, platform: str = "news", timeout_s: float = 15.0,
                 headers: dict[str, str] | None = None, transport: httpx.BaseTransport | None = None):
        self.url, self.name, self.platform = url, name, platform
        self.timeout_s = timeout_s
        self.headers = {"User-Agent": "1022-Watch/1 (+social listener)", **(headers or {})}
        self.transport = transport

    @classmethod
    def from_conf(cls, conf: Any, resolve: Callable[[str], Path]) -> "RssSource":
        return cls(conf.url, conf.name, platform=conf.platform or "news", timeout_s=conf.timeout_s,
                   headers=conf.headers)

    def _item_id(self, item: FeedItem) -> str:
        raw = item["id"] or ""
        return raw if 0 < len(raw) <= 200 else hashlib.sha256(raw.encode()).hexdigest()[:32]

    def fetch(self, cursor: str | None = None) -> FetchResult:
        try:
            state = json.loads(cursor) if cursor else {}
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise SourceError(f"{self.name}: bad cursor {str(cursor)[:80]!r}: {e}") from None
        headers = dict(self.headers)
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("modified"):
            headers["If-Modified-Since"] = state["modified"]
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=True, transport=self.transport) as http:
                r = http.get(self.url, headers=headers)
        except httpx.HTTPError as e:
            raise SourceError(f"{self.name}: {self.url} not reachable: {e}") from None
        if r.status_code == 304:
            return [], json.dumps(state, sort_keys=True, ensure_ascii=False)
        if r.status_code != 200:
            raise SourceError(f"{self.name}: {self.url} answered HTTP {r.status_code}")
        try:
            feed = parse_feed(r.content)
        except ValueError as e:
            raise SourceError(f"{self.name}: {self.url}: {e}") from None

        newest = _when(state.get("newest", "")) if state.get("newest") else None
        ids = list(state.get("ids") or [])
        seen = set(ids)
        now = datetime.now(_ICT).replace(microsecond=0)
        fresh: list[tuple[datetime, FeedItem, str]] = []
        for item in feed:
            iid = self._item_id(item)
            when = item["published"]
            if when is None:
                if "~" + iid in seen:
                    continue
            elif newest is not None and (when < newest or (when == newest and iid in seen)):
                continue
            fresh.append((when or now, item, iid))
        fresh.sort(key=lambda t: t[0])  # oldest first
        items: list[Post | Rejected] = []
        for when, item, iid in fresh:
            text = ". ".join(p for p in (item["title"], item["summary"]) if p)
            try:
                items.append(Post(id=iid, platform=self.platform, text=text, url=item["link"],
                                  author=item["author"], posted_at=when))
            except ValidationError as e:
                items.append(Rejected(0, json.dumps({k: str(v) for k, v in item.items()}, ensure_ascii=False),
                                      _reason(e)))
        # new cursor
        dated = [w for w, it, _ in fresh if it["published"] is not None]
        if dated and (newest is None or max(dated) > newest):
            newest = max(dated)
            ids = [i for i in ids if i.startswith("~")]  # keep the undated ids
        for when, item, iid in fresh:
            if item["published"] is None:
                ids.append("~" + iid)
            elif item["published"] == newest:
                ids.append(iid)
        ids = ids[-_MAX_IDS:]
        state = {"newest": newest.isoformat() if newest else None,
                 "ids": ids, "etag": r.headers.get("etag"), "modified": r.headers.get("last-modified")}
        return items, json.dumps({k: v for k, v in state.items() if v}, sort_keys=True, ensure_ascii=False)
