"""`POST /social/posts`: platforms without a client here (Facebook pages, Zalo, news exporters) push posts.

    router = create_router(rt.publisher, api_keys=["k1"], pipeline=pipeline)   # or categories=...
    app.include_router(router)

Request: header ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``); body one post object or a JSON
list of them, in the post format of social/README.md (``id``, ``text``, ``posted_at`` with offset required;
``platform`` defaults to ``webhook``).

Answers:
- 200 ``{"accepted": n, "refused": [], "candidates": [...], "results": [...]}`` when every post is valid;
- 207 with ``refused: [{"index": i, "id": ..., "reason": ...}]`` when some are not (the valid ones are still
  processed), 422 when none is; each refused item is sent to the dead-letter topic with its reason;
- 400 for a body that is not JSON (dead-lettered too), 401 without a valid key, 413 for too many items.
``results`` has one entry per item: ``{"index", "id", "outcome"}`` with outcome ``candidate``, ``repost``,
``retweet``, ``not_report``, ``no_category``, ``below_threshold`` or ``refused``.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from configs.apikeys import is_authorised, request_key
from social.pipeline import SocialPipeline
from social.sources import Post, _reason

__all__ = ["create_router", "STAGE"]

STAGE = "social.webhook"


def _resolve_publisher(p: Any):
    if hasattr(p, "publish") and hasattr(p, "dead_letter"):
        return p
    if callable(p):
        return p()
    raise TypeError("publisher must have publish/dead_letter/flush, or be a callable returning such an object")


def create_router(publisher: Any, api_keys: Iterable[str], *, pipeline: SocialPipeline | None = None,
                  categories: Any = None, threshold: float = 0.5, salt: str = "",
                  platform: str = "webhook", max_items: int = 500, prefix: str = "/social") -> APIRouter:
    """`publisher`: a bridge.publish.CandidatePublisher-like object, or a callable returning one (called per
    request). `api_keys`: accepted keys (an empty list refuses every request). Give a `pipeline` (shared
    with other sources so re-posts across them collapse) or the `categories` to build one."""
    keys = [k for k in api_keys if k]
    if pipeline is None:
        if categories is None:
            raise ValueError("create_router needs a pipeline or the categories to build one")
        pipeline = SocialPipeline(categories, threshold, salt)
    router = APIRouter(prefix=prefix, tags=["social"])

    @router.post("/posts")
    async def receive_posts(request: Request, x_api_key: str | None = Header(None),
                            authorization: str | None = Header(None)):
        if not is_authorised(request_key(x_api_key, authorization), keys):
            return JSONResponse({"detail": "missing or wrong API key (send it in the X-API-Key header)"}, 401)
        raw = await request.body()
        pub = _resolve_publisher(publisher)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            reason = f"body is not JSON: {e}"
            pub.dead_letter(STAGE, reason, raw.decode("utf-8", errors="replace")[:100000])
            pub.flush()
            return JSONResponse({"detail": reason}, 400)
        items = body if isinstance(body, list) else [body]
        if len(items) > max_items:
            return JSONResponse({"detail": f"{len(items)} posts in one request; at most {max_items}"}, 413)

        posts: list[tuple[int, Post]] = []
        refused: list[dict] = []
        for i, obj in enumerate(items):
            reason = None
            if not isinstance(obj, dict):
                reason = f"expected a JSON object, got {type(obj).__name__}"
            else:
                obj = dict(obj)
                if obj.get("platform") in (None, ""):
                    obj["platform"] = platform
                try:
                    posts.append((i, Post.model_validate(obj)))
                    continue
                except ValidationError as e:
                    reason = _reason(e)
            item_id = obj.get("id") if isinstance(obj, dict) else None
            refused.append({"index": i, "id": item_id, "reason": reason})
            pub.dead_letter(STAGE, f"item {i}: {reason}", json.dumps(obj, ensure_ascii=False, default=str))

        results: list[dict] = [{"index": r["index"], "id": r["id"], "outcome": "refused"} for r in refused]
        candidates = []
        if posts:
            candidates = _process(pipeline, [p for _, p in posts], results, posts)
            for c in candidates:
                pub.publish(c)
        pub.flush()
        results.sort(key=lambda r: r["index"])
        status = 200 if not refused else (207 if posts else 422)
        return JSONResponse({"accepted": len(posts), "refused": refused,
                             "candidates": [{"id": c.id, "category": c.category, "source_ref": c.source_ref,
                                             "posts": len(c.evidence)} for c in candidates],
                             "results": results}, status)

    return router


def _process(pipeline: SocialPipeline, batch: list[Post], results: list[dict], indexed) -> list:
    """Run the batch; fill `results` with each post's outcome."""
    before = {p.ref: p.ref in pipeline._cluster_of for p in batch}  # noqa: SLF001 (same package)
    candidates = pipeline.process_batch(batch)
    raised_refs = {c.source_ref for c in candidates}
    for i, p in indexed:
        c = pipeline._cluster_of.get(p.ref)  # noqa: SLF001
        if p.ref in raised_refs or (c is not None and c.posts[0].ref == p.ref and not before[p.ref]):
            outcome = "candidate"
        elif c is not None:
            outcome = "repost"
        else:
            outcome = _why(pipeline, p)
        results.append({"index": i, "id": p.id, "outcome": outcome})
    return candidates


def _why(pipeline: SocialPipeline, post: Post) -> str:
    from social.normalize import is_retweet
    if is_retweet(post.text):
        return "retweet"
    cls = pipeline.classifier.classify(post.text)
    if cls.category is None or cls.category not in pipeline.names:
        return "no_category"
    if not cls.is_report:
        return "not_report"
    if cls.confidence < pipeline.threshold:
        return "below_threshold"
    return "repost"
