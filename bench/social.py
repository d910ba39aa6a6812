"""Throughput of the social text path on one core: normalise → classify → locate, per post.

    python bench/social.py [--posts N] [--no-python]

Posts are generated from templates written for 1022 Watch (reports, non-reports, with and without
diacritics, abbreviations), all distinct, so caches keyed on the whole text do not help. Next to it, in
the same run, a bare regex scan of the same posts (one combined keyword regex, no normalisation), as the
floor to compare with. The text path runs as installed: compiled with mypyc when scripts/build_social.py built it
(scripts/setup.sh does), else as plain Python; the same posts then go through the plain Python path in a child
process (WATCH1022_PURE_PYTHON=1) for comparison. Last line: {"posts_per_s": x, "regex_posts_per_s": y,
"text_path": "compiled" | "pure Python (...)", "python_posts_per_s": z}.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import social  # noqa: E402
from social.classify import default_classifier  # noqa: E402
from social.locate import default_locator  # noqa: E402
from social.normalize import fold  # noqa: E402

STREETS = ["Nguyễn Hữu Cảnh", "Lê Văn Sỹ", "Cộng Hòa", "Võ Văn Ngân", "Phan Đăng Lưu", "Huỳnh Tấn Phát", "Kha Vạn Cân",
           "Lê Đức Thọ", "Nguyễn Văn Linh", "Trường Chinh", "Đinh Bộ Lĩnh", "Phạm Văn Đồng", "Âu Cơ", "Quang Trung"]
PLACES = ["quận 1", "Q3", "q.7", "P.Bến Thành", "phường Tân Định", "Gò Vấp", "Bình Thạnh", "phường 6, quận Bình Thạnh",
          "TP Thủ Đức", "huyện Hóc Môn", "xã Bà Điểm", "tphcm", "sg", ""]
TEMPLATES = [
    "Đường {s} đoạn gần số {n} ngập sâu quá, xe chết máy nằm la liệt {p}",
    "{s} {p} đang ngập tới yên xe, mọi người né ra nha",
    "cay xanh nga chan ngang duong {s} {p}, ket xe dai luc {h}h",
    "Cây dầu trước nhà số {n} {s} vừa bật gốc, đè lên {k} xe máy",
    "Hố ga trước hẻm {n} {s} mất nắp cả tuần nay chưa ai sửa, nguy hiểm quá",
    "Ống nước bể phun thành cột trên đường {s}, nước chảy lênh láng {p}",
    "Dây điện đứt rơi xuống vỉa hè ở hẻm {n} {s}, mọi người tránh xa",
    "Dự báo tối nay {p} mưa lớn, các tuyến đường trũng như {s} có thể ngập",
    "Dạo này công ty ngập việc, về tới nhà {n} giờ là ngủ luôn",
    "Hà Nội mưa lớn, phố {s} ngập sâu, {k} xe chết máy",
    "Đường {s} giờ này có ngập không mọi người? {p}",
    "Mặt đường {s} bị sụt lún tạo hố sâu khoảng {k} mét {p}",
    "đèn đường trên {s} tắt hết mấy hôm nay, tối om {p}",
    "Trời hôm nay đẹp, đi cà phê ở {s} với bạn bè, {k} ly",
    "Rác chất đống bốc mùi ở đầu hẻm {n} {s} không ai dọn",
]
KEYWORDS = ["ngập", "ngap", "cây đổ", "cay do", "cây ngã", "ổ gà", "sụt lún", "hố ga", "mất nắp", "vỡ ống", "bể ống",
            "dây điện", "đèn đường", "rác", "lấn chiếm", "bật gốc", "gãy"]


def make_posts(n: int, seed: int = 1022) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t = rnd.choice(TEMPLATES)
        out.append(t.format(s=rnd.choice(STREETS), p=rnd.choice(PLACES), n=rnd.randint(1, 999), h=rnd.randint(1, 23),
                            k=rnd.randint(2, 9)) + f" #{i}")
    return out


def bench_pipeline(posts: list[str]) -> float:
    clf, loc = default_classifier(), default_locator()
    clf.classify("khởi động"), loc.locate("khởi động")  # load the lexicon and the gazetteer outside the timing
    t0 = time.perf_counter()
    for text in posts:
        c = clf.classify(text)
        if c.category is not None:
            loc.locate(text)
    return len(posts) / (time.perf_counter() - t0)


def bench_regex(posts: list[str]) -> float:
    rx = re.compile("|".join(re.escape(k) for k in sorted(KEYWORDS, key=len, reverse=True)), re.IGNORECASE)
    t0 = time.perf_counter()
    hits = 0
    for text in posts:
        if rx.search(text):
            hits += 1
    return len(posts) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=20000)
    ap.add_argument("--no-python", action="store_true", help="skip the plain Python run in a child process")
    ap.add_argument("--pipeline-only", action="store_true", help=argparse.SUPPRESS)  # the child's run
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
        except OSError:
            pass
    posts = make_posts(args.posts)
    fold("x")
    pps = bench_pipeline(posts)
    if args.pipeline_only:
        print(json.dumps({"posts_per_s": round(pps, 1), "text_path": social.RUNNING}))
        return 0
    rps = bench_regex(posts)
    figures = {"posts_per_s": round(pps, 1), "regex_posts_per_s": round(rps, 1), "text_path": social.RUNNING}
    print(f"normalise → classify → locate: {pps:,.0f} posts/s ({args.posts} posts, one core, {social.RUNNING})")
    print(f"bare regex scan:               {rps:,.0f} posts/s")
    if not args.no_python and social.running_compiled():
        r = subprocess.run([sys.executable, __file__, "--posts", str(args.posts), "--pipeline-only"],
                           env={**os.environ, "WATCH1022_PURE_PYTHON": "1"}, capture_output=True, text=True, check=True)
        py = json.loads(r.stdout.splitlines()[-1])["posts_per_s"]
        figures["python_posts_per_s"] = py
        print(f"the same path as plain Python: {py:,.0f} posts/s (compiled: x{pps / py:.2f})")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
