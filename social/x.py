"""X (Twitter) recent search through tweepy: ``Client.search_recent_tweets``.

configs/social.yaml::

    - name: x-hcm
      kind: x
      queries: ["(ngập OR \"cây đổ\" OR \"ổ gà\") (sài gòn OR tphcm OR hcm) -is:retweet lang:vi"]
      bearer_token_env: X_BEARER_TOKEN   # the token itself never sits in a file
      max_results: 100                   # page size (10..100)
      max_pages: 5                       # pages per query per fetch; the rest comes next fetch

Cursor (a JSON string the runner persists): per query, ``since_id`` (the newest tweet already read) and,
while a result set is being paged through, the ``next_token`` to continue with and the ``newest_id`` the
series started with. ``since_id`` advances to ``newest_id`` only when the last page is read, so a restart,
a page limit or a rate limit in the middle of a series neither skips nor repeats tweets.

Rate limits: a 429 raises :class:`SourceDelayed` with ``retry_at`` from ``x-rate-limit-reset`` (the pages
read before it are kept): only this source waits. 401/403 raise :class:`SourceAuthError` (the runner shows
the source as ``auth_error``). tweepy always talks to https://api.twitter.com; ``api_base`` (for a proxy or
a test server) is honoured by mounting a host-rewriting adapter on tweepy's requests session.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from pydantic import ValidationError

from social.sources import (FetchResult, Post, PostSource, Rejected, SourceAuthError, SourceDelayed, SourceError,
                            register_source)

__all__ = ["XSource", "RewriteHostAdapter", "X_HOST", "tweet_to_post"]

X_HOST = "https://api.twitter.com"
EXPANSIONS = ["geo.place_id", "author_id"]
TWEET_FIELDS = ["created_at", "lang", "geo", "author_id", "referenced_tweets", "entities"]
PLACE_FIELDS = ["full_name", "name", "country", "country_code", "geo", "place_type"]
USER_FIELDS = ["username"]


class RewriteHostAdapter(requests.adapters.HTTPAdapter):
    """Send requests for one host to another base URL (scheme + host + optional path prefix)."""

    def __init__(self, base: str, **kw):
        super().__init__(**kw)
        self.base = urlsplit(base.rstrip("/"))

    def send(self, request, **kw):
        u = urlsplit(request.url)
        request.url = urlunsplit((self.base.scheme, self.base.netloc, self.base.path + u.path, u.query, u.fragment))
        return super().send(request, **kw)


def _get(obj: Any, key: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def tweet_to_post(tweet: dict, users: dict[str, dict], places: dict[str, dict]) -> Post | Rejected:
    """One tweet of an API v2 answer (with its includes) → Post."""
    user = users.get(str(tweet.get("author_id")), {})
    place_id = (tweet.get("geo") or {}).get("place_id")
    place = places.get(str(place_id), {}) if place_id else {}
    username = user.get("username")
    tid = str(tweet.get("id", ""))
    try:
        return Post(
            id=tid, platform="x", text=tweet.get("text", ""),
            url=f"https://x.com/{username or 'i/web'}/status/{tid}",
            author=username or (str(tweet["author_id"]) if tweet.get("author_id") else None),
            posted_at=tweet.get("created_at"), lang=tweet.get("lang"),
            place=place.get("full_name") or place.get("name"))
    except ValidationError as e:
        from social.sources import _reason
        return Rejected(0, json.dumps(tweet, ensure_ascii=False), _reason(e))


@register_source("x")
class XSource(PostSource):
    def __init__(self, queries: list[str], bearer_token: str | None, name: str = "x", *, max_results: int = 100,
                 max_pages: int = 5, api_base: str | None = None, timeout_s: float = 15.0,
                 token_env: str = "X_BEARER_TOKEN"):
        if not queries:
            raise SourceError(f"{name}: no queries")
        self.name, self.queries = name, list(queries)
        self.max_results, self.max_pages = max_results, max_pages
        self.token_env = token_env
        self.bearer_token = bearer_token
        # return_type=dict: the raw API v2 JSON (data, includes, meta), independent of tweepy's models
        self.client = tweepy.Client(bearer_token=bearer_token, return_type=dict, wait_on_rate_limit=False)
        self.timeout_s = timeout_s
        _orig = self.client.session.request
        self.client.session.request = lambda *a, **kw: _orig(*a, **{"timeout": timeout_s, **kw})
        if api_base:
            self.client.session.mount(X_HOST, RewriteHostAdapter(api_base))

    @classmethod
    def from_conf(cls, conf: Any, resolve: Callable[[str], Path]) -> "XSource":
        return cls(conf.queries, os.environ.get(conf.bearer_token_env) or None, conf.name,
                   max_results=conf.max_results, max_pages=conf.max_pages, api_base=conf.api_base,
                   timeout_s=conf.timeout_s, token_env=conf.bearer_token_env)

    def _load(self, cursor: str | None) -> dict[str, dict]:
        if not cursor:
            return {}
        try:
            state = json.loads(cursor)
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise SourceError(f"{self.name}: bad cursor {cursor[:80]!r}: {e}") from None
        return state

    def fetch(self, cursor: str | None = None) -> FetchResult:
        if not self.bearer_token:
            raise SourceAuthError(f"{self.name}: no X bearer token (set the environment variable {self.token_env})")
        state = self._load(cursor)
        items: list[Post | Rejected] = []
        for query in self.queries:
            q = dict(state.get(query) or {})
            try:
                self._fetch_query(query, q, items)
            except tweepy.TooManyRequests as e:
                state[query] = q
                reset = e.response.headers.get("x-rate-limit-reset") if e.response is not None else None
                retry_at = float(reset) if reset and str(reset).isdigit() else time.time() + 15 * 60
                raise SourceDelayed(f"{self.name}: rate limited by X until "
                                    f"{datetime.fromtimestamp(retry_at).isoformat(timespec='seconds')}",
                                    retry_at, items, json.dumps(state, sort_keys=True)) from None
            except (tweepy.Unauthorized, tweepy.Forbidden) as e:
                raise SourceAuthError(f"{self.name}: X refused the credentials "
                                      f"({e.response.status_code if e.response is not None else '?'}: "
                                      f"{'; '.join(e.api_messages) or e})") from None
            except tweepy.TweepyException as e:
                raise SourceError(f"{self.name}: X request failed: {e}") from None
            except requests.RequestException as e:
                raise SourceError(f"{self.name}: X not reachable: {e}") from None
            state[query] = q
        return items, json.dumps(state, sort_keys=True)

    def _fetch_query(self, query: str, q: dict, items: list) -> None:
        """Read up to max_pages of one query, updating its cursor state `q` in place after each page."""
        for _ in range(self.max_pages):
            params: dict[str, Any] = dict(
                expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS, place_fields=PLACE_FIELDS,
                user_fields=USER_FIELDS, max_results=self.max_results)
            if q.get("since_id"):
                params["since_id"] = q["since_id"]
            if q.get("next_token"):
                params["next_token"] = q["next_token"]
            answer = self.client.search_recent_tweets(query, **params)
            data = answer.get("data") or []
            includes = answer.get("includes") or {}
            meta = answer.get("meta") or {}
            users = {str(u.get("id")): u for u in includes.get("users") or []}
            places = {str(p.get("id")): p for p in includes.get("places") or []}
            # newest first within a series: keep the series' newest id to become since_id at its end
            if not q.get("next_token") and meta.get("newest_id"):
                q["newest_id"] = meta["newest_id"]
            for tweet in reversed(data):  # oldest first downstream
                items.append(tweet_to_post(tweet, users, places))
            nxt = meta.get("next_token")
            if nxt:
                q["next_token"] = nxt
                continue
            q.pop("next_token", None)
            if q.get("newest_id"):
                q["since_id"] = q.pop("newest_id")
            return
