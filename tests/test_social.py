"""The social pipeline: normalisation, classifier, locator, JSONL source, Post → Candidate.

All example sentences are written for these tests (none is copied from a corpus).
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from configs.loader import load_file
from configs.schema import CategoriesFile, SocialSourceConf
from models.candidate import HCMC_BOUNDS, Candidate, candidate_id
from social.classify import Classifier, LexiconError, classify, load_lexicon
from social.locate import CITY_CENTRE, default_locator, locate
from social.normalize import (analyse, author_hash, clean, expand_abbreviations, fold, is_retweet, nfc,
                              text_fingerprint, tokenize, typed_without_diacritics)
from social.pipeline import SocialPipeline
from social.sources import SOURCE_KINDS, JsonlFileSource, Post, Rejected, SourceError, build_source

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "social" / "posts.jsonl"
ICT = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def categories() -> CategoriesFile:
    return load_file(ROOT / "configs" / "categories.yaml", CategoriesFile)


# ---- normalise -----------------------------------------------------------------------------------------
def test_nfc_composes_decomposed_text_and_collapses_spaces():
    decomposed = unicodedata.normalize("NFD", "Đường   ngập\u200b sâu ")
    assert decomposed != "Đường ngập sâu"
    assert nfc(decomposed) == "Đường ngập sâu"


@pytest.mark.parametrize("text, folded", [
    ("Đường Nguyễn Hữu Cảnh NGẬP sâu", "duong nguyen huu canh ngap sau"),
    ("cây đổ", "cay do"),
    ("Hoà Hưng", "hoa hung"),
    ("Hòa Hưng", "hoa hung"),
    (unicodedata.normalize("NFD", "Thủ Đức"), "thu duc"),
])
def test_fold_removes_diacritics_and_case(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize("raw, expanded", [
    ("ngập ở q1", "ngập ở quận 1"),
    ("Q.3 mưa to", "quận 3 mưa to"),
    ("q.10", "quận 10"),
    ("Q.Bình Thạnh", "quận Bình Thạnh"),
    ("P.Bến Thành", "phường Bến Thành"),
    ("p.5, Q.8", "phường 5, quận 8"),
    ("P12 Gò Vấp", "phường 12 Gò Vấp"),
    ("đ.Lê Lợi", "đường Lê Lợi"),
    ("H.Hóc Môn", "huyện Hóc Môn"),
    ("ql13 kẹt xe", "quốc lộ 13 kẹt xe"),
    ("tphcm mưa", "thành phố hồ chí minh mưa"),
    ("TP.HCM mưa", "thành phố hồ chí minh mưa"),
    ("tp hcm mưa", "thành phố hồ chí minh mưa"),
    ("Tp. Hồ Chí Minh", "thành phố hồ chí minh"),
    ("sg mưa", "thành phố hồ chí minh mưa"),
    ("HCM mưa", "thành phố hồ chí minh mưa"),
    ("TP Thủ Đức", "thành phố Thủ Đức"),
    ("ko đi được", "không đi được"),
    ("k đi dc đâu", "không đi được đâu"),
    ("ng đi đường bị thương", "người đi đường bị thương"),
    ("đường Ng. Hữu Cảnh", "đường Nguyễn Hữu Cảnh"),
    ("Ng Văn A", "Ng Văn A"),
    ("ly cà phê 50k", "ly cà phê 50k"),
    ("giá 50 k", "giá 50 k"),
])
def test_expand_abbreviations(raw, expanded):
    assert expand_abbreviations(raw) == expanded


def test_clean_strips_urls_and_mentions_and_keeps_hashtag_words():
    out = clean("@bao_moi Ngập rồi https://t.co/AbC123 #NgậpNước #ngap_nuoc #SaiGon www.example.com/x")
    assert "http" not in out and "example" not in out and "@" not in out and "#" not in out
    assert "Ngập Nước" in out and "ngap nuoc" in out and "Sai Gon" in out


def test_author_hash_is_salted_sha256_and_handle_insensitive():
    assert author_hash("tram_anh", "s1") == hashlib.sha256(b"s1tram_anh").hexdigest()
    assert author_hash("@Tram_Anh", "s1") == author_hash("tram_anh", "s1")
    assert author_hash("tram_anh", "s2") != author_hash("tram_anh", "s1")
    assert author_hash(None, "s1") is None and author_hash("  ", "s1") is None


@pytest.mark.parametrize("text, rt", [
    ("RT @saigon_mua: đường ngập", True),
    ("rt @abc ngập quá", True),
    ("RT: cây đổ ở Q1", True),
    ("Artist vẽ tranh", False),
    ("Mọi người RT giúp: cây đổ", False),
    ("", False),
])
def test_is_retweet(text, rt):
    assert is_retweet(text) is rt


def test_text_fingerprint_ignores_spacing_punctuation_case_and_links():
    a = text_fingerprint("Cây đổ trên đường Lê Lợi, kẹt xe quá!")
    assert a == text_fingerprint("cây đổ  trên đường Lê Lợi kẹt xe quá https://t.co/x")
    assert a != text_fingerprint("Cây đổ trên đường Hàm Nghi, kẹt xe quá!")


def test_typed_without_diacritics_and_diacritics_aware_tokens():
    assert typed_without_diacritics("cay do o duong Le Loi")
    assert not typed_without_diacritics("Cây đổ ở đường Lê Lợi")
    yawn = tokenize("ngáp cả buổi")[0]
    flood = tokenize("ngập cả buổi")[0]
    plain = tokenize("ngap ca buoi")[0]
    assert yawn.fold == flood.fold == plain.fold == "ngap"
    assert yawn.marks != flood.marks and plain.loose and not flood.loose


# ---- classify --------------------------------------------------------------------------------------------
REPORTS = [
    ("Mưa từ 4h chiều, đường Lê Văn Sỹ đoạn gần chợ ngập tới yên xe, xe chết máy nằm la liệt", "flooding"),
    ("kha van can doan gan cho thu duc ngap qua troi, nuoc len toi banh xe roi", "flooding"),
    ("Hẻm nhà mình ở P.Tân Sơn Nhì nước tràn vào nhà luôn rồi, dọn không kịp", "flooding"),
    ("Q7: Huỳnh Tấn Phát đang ngập sâu, ô tô cũng phải bò", "flooding"),
    ("Cây dầu trước số 12 Võ Thị Sáu vừa bật gốc, đè lên hai xe máy", "fallen_tree"),
    ("cay xanh nga chan ngang duong Dinh Bo Linh, ket xe dai", "fallen_tree"),
    ("Một cành cây lớn gãy rơi xuống giữa đường Nguyễn Thị Minh Khai lúc 15h", "fallen_tree"),
    ("Trên đường Cộng Hòa có cái ổ gà to đùng, tối qua 2 người té xe rồi", "pothole_subsidence"),
    ("Hố ga trước chợ mất nắp cả tuần nay chưa ai sửa, nguy hiểm quá", "manhole"),
    ("Ống nước bể phun thành cột trên đường 3/2, nước chảy lênh láng", "water_pipe"),
    ("Đèn đường trên Phạm Văn Đồng tắt hết, tối om mấy hôm nay", "streetlight"),
    ("Dây điện bị đứt rơi xuống vỉa hè ở hẻm 51 Lê Quang Định, mọi người tránh xa", "power_line"),
    ("Cáp viễn thông võng xuống ngang đầu người trên đường Âu Cơ, rất nguy hiểm", "telecom"),
    ("Rác chất đống bốc mùi ở đầu hẻm 40 Lũy Bán Bích cả tuần không ai dọn", "sanitation"),
    ("Quán nhậu lấn chiếm hết vỉa hè đường Bùi Viện, người đi bộ phải xuống lòng đường", "encroachment"),
]


@pytest.mark.parametrize("text, category", REPORTS)
def test_reports_are_classified(text, category):
    c = classify(text)
    assert c.category == category
    assert c.is_report and c.confidence > 0.5
    assert c.phrases and all(p for p in c.phrases)


NOT_REPORTS = [
    ("forecast", "Dự báo tối nay TP.HCM mưa lớn, các tuyến đường trũng có thể ngập"),
    ("warning", "Cảnh báo triều cường cao nhất năm, nhiều khu vực ven sông sẽ ngập vào cuối tuần"),
    ("advice", "Mẹo đi xe máy qua đường ngập không bị chết máy: giữ ga đều, đi số thấp"),
    ("advice", "Mùa mưa bão, mọi người nên tránh đứng dưới gốc cây lớn vì cây có thể gãy đổ"),
    ("past", "Năm ngoái đường Nguyễn Hữu Cảnh ngập suốt mấy tháng, giờ nhớ lại vẫn sợ"),
    ("past", "Hồi xưa cây đổ trước cổng trường mình, cả xóm ra dọn"),
    ("other_city", "Hà Nội mưa lớn, nhiều tuyến phố ở quận Cầu Giấy ngập sâu"),
    ("other_city", "Đà Nẵng: cây xanh ngã đổ hàng loạt sau bão"),
    ("other_city", "Cần Thơ triều cường, đường ven sông ngập nặng sáng nay"),
    ("figurative", "Dạo này công ty ngập việc, về tới nhà là ngủ luôn"),
    ("figurative", "Hôm nay ngập tràn hạnh phúc vì được tăng lương"),
    ("figurative", "Rau trong nhà toàn cây nhà lá vườn, ăn yên tâm"),
    ("figurative", "Nợ ngập đầu mà vẫn đi du lịch"),
    ("figurative", "Đồng bằng bị xâm nhập mặn, ngập mặn nặng"),
    ("other_sense", "Vừa ghé cây xăng đổ xăng xong thì trời đổ mưa"),
    ("other_sense", "ngáp ngắn ngáp dài cả buổi chiều"),
    ("question", "Đường Lê Văn Sỹ giờ này có ngập không mọi người?"),
    ("policy", "Thành phố đầu tư 10.000 tỉ đồng cho dự án chống ngập"),
    ("habitual", "Mỗi lần mưa là khu này ngập, sống chung với nước bao năm nay rồi"),
]


@pytest.mark.parametrize("kind, text", NOT_REPORTS)
def test_not_current_reports(kind, text):
    c = classify(text)
    assert not c.is_report, (kind, c)
    assert c.confidence < 0.5


def test_no_category_without_cues():
    c = classify("Hôm nay trời đẹp, đi cà phê với bạn bè")
    assert c.category is None and not c.is_report and c.confidence == 0.0


def test_same_verdict_with_and_without_diacritics():
    with_marks = classify("Cây xanh ngã chắn ngang đường Đinh Bộ Lĩnh, kẹt xe dài")
    without = classify("Cay xanh nga chan ngang duong Dinh Bo Linh, ket xe dai")
    assert (with_marks.category, with_marks.is_report) == (without.category, without.is_report) == ("fallen_tree", True)


def test_other_city_named_alongside_hcmc_stays_a_report():
    c = classify("Hà Nội và TP.HCM cùng mưa lớn, đường Nguyễn Hữu Cảnh ngập sâu")
    assert c.is_report and c.category == "flooding"
    assert any(s.startswith("other_place") for s in c.signals)


def test_question_with_a_stated_flood_is_still_a_report():
    c = classify("Đường Lê Văn Sỹ ngập tới đầu gối rồi, có ai biết đường nào né không?")
    assert c.is_report and c.category == "flooding"


def test_burst_pipe_wins_over_the_hole_it_makes():
    c = classify("Vỡ đường ống nước sáng nay làm sụt lún một đoạn đường, tạo hố tử thần")
    assert c.category == "water_pipe" and c.is_report


def test_classifier_restricted_to_configured_categories():
    only_trees = Classifier(categories=["fallen_tree"])
    assert only_trees.classify("Đường Nguyễn Hữu Cảnh ngập sâu sáng nay").category is None
    assert only_trees.classify("Cây đổ trên đường Lê Lợi sáng nay").category == "fallen_tree"


def test_lexicon_has_a_version_and_bad_lexicons_fail_naming_the_key(tmp_path):
    assert load_lexicon().version.startswith("social-lexicon/")
    bad = tmp_path / "lexicon.yaml"
    bad.write_text("version: x\ncategories:\n  flooding:\n    strong: ['~2 ngập']\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"categories\.flooding\.strong\[0\]"):
        load_lexicon(bad)
    bad.write_text("version: x\ncategories:\n  flooding:\n    weak: [mưa]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="needs at least one"):
        load_lexicon(bad)


# ---- locate ----------------------------------------------------------------------------------------------
def _inside_city(p) -> bool:
    (a, b), (c, d) = HCMC_BOUNDS["lat"], HCMC_BOUNDS["lon"]
    return a <= p.lat <= b and c <= p.lon <= d


def test_gazetteer_has_the_168_current_wards():
    g = default_locator().gazetteer
    assert len(g.wards) == 168
    assert g.ward("Bến Thành").name == "Phường Bến Thành"


@pytest.mark.parametrize("text", ["Ngập ở phường Bến Thành", "ngap o p.ben thanh", "P. Bến Thành cây đổ", "Phuong Ben Thanh"])
def test_ward_lookup(text):
    p = locate(text)
    assert p.precision == "ward" and p.level == "ward"
    assert p.ward == "Phường Bến Thành"
    assert abs(p.lat - 10.77) < 0.01 and abs(p.lon - 106.70) < 0.01


def test_commune_lookup():
    p = locate("Đường ngập ở xã Bà Điểm")
    assert p.ward == "Xã Bà Điểm" and p.precision == "ward"


@pytest.mark.parametrize("text, district, lat, lon", [
    ("ngập ở quận 3", "Quận 3", 10.78, 106.685),
    ("Q3 ngập nặng", "Quận 3", 10.78, 106.685),
    ("mưa lớn ở Gò Vấp", "Quận Gò Vấp", 10.84, 106.67),
    ("go vap mua lon", "Quận Gò Vấp", 10.84, 106.67),
    ("huyện Củ Chi mưa to", "Huyện Củ Chi", 11.0, 106.51),
])
def test_old_district_lookup(text, district, lat, lon):
    p = locate(text)
    assert p.district == district
    assert p.level == "district" and p.precision == "ward" and p.ward is None
    assert abs(p.lat - lat) < 0.02 and abs(p.lon - lon) < 0.02


def test_district_merged_into_thu_duc_gets_its_own_centroid():
    q2, q9 = locate("cây đổ ở quận 2"), locate("cây đổ ở Q9")
    assert q2.district == "Quận 2" and q9.district == "Quận 9"
    assert 10.75 < q2.lat < 10.82 and 106.72 < q2.lon < 106.79
    assert 10.80 < q9.lat < 10.87 and 106.77 < q9.lon < 106.86


def test_old_numbered_ward_needs_its_district():
    p = locate("cây đổ ở phường 14, quận 6")
    assert p.level == "ward" and p.ward_legacy == "Phường 14, Quận 6"
    assert p.ward and p.ward.startswith("Phường ")  # the current ward it became
    assert locate("cây đổ ở phường 14").precision == "city"


def test_old_ward_name_is_read_in_the_old_district_named():
    # Quận 7 had a "phường Tân Phú"; today's Phường Tân Phú is the former Tân Phú district, far away
    old = locate("ngập ở phường Tân Phú, quận 7")
    assert old.ward_legacy == "Phường Tân Phú, Quận 7" and old.ward != "Phường Tân Phú"
    assert abs(old.lat - 10.73) < 0.02 and abs(old.lon - 106.73) < 0.02
    new = locate("ngập ở phường Tân Phú")
    assert new.ward == "Phường Tân Phú" and new.ward_legacy is None and abs(new.lon - 106.64) < 0.02


def test_shipped_streets_are_inside_the_city():
    g = default_locator().gazetteer
    assert len(g.streets) >= 40
    for s in g.streets:
        for lat, lon in s.points:
            assert HCMC_BOUNDS["lat"][0] <= lat <= HCMC_BOUNDS["lat"][1], s.name
            assert HCMC_BOUNDS["lon"][0] <= lon <= HCMC_BOUNDS["lon"][1], s.name


@pytest.mark.parametrize("text", ["Đường Nguyễn Hữu Cảnh ngập sâu", "nguyen huu canh ngap sau", "Nguyễn Hữu Cảnh"])
def test_street_lookup(text):
    p = locate(text)
    assert p.precision == "street" and p.street == "Nguyễn Hữu Cảnh"
    assert abs(p.lat - 10.79) < 0.02 and abs(p.lon - 106.715) < 0.02


def test_street_with_ward_keeps_both():
    p = locate("Cành cây gãy trên đường Nguyễn Thị Minh Khai, phường Xuân Hòa")
    assert p.precision == "street" and p.street == "Nguyễn Thị Minh Khai" and p.ward == "Phường Xuân Hòa"
    assert p.address == "đường Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP.HCM"


def test_street_far_from_the_named_district_falls_back_to_the_district():
    # "Lê Lợi" in the gazetteer is the one in the old Quận 1; Gò Vấp has its own Lê Lợi
    p = locate("đường Lê Lợi, quận Gò Vấp")
    assert p.street == "Lê Lợi" and p.district == "Quận Gò Vấp"
    assert p.precision == "ward" and abs(p.lat - 10.84) < 0.02


def test_house_and_alley_numbers_go_into_the_address():
    assert locate("19 Võ Văn Tần bị cây đè").address.startswith("19 Võ Văn Tần")
    assert locate("hẻm 34 Phan Đăng Lưu ngập").address.startswith("hẻm 34 Phan Đăng Lưu")


def test_abbreviated_national_road():
    p = locate("ql13 đoạn qua Bình Thạnh ngập")
    assert p.street == "Quốc lộ 13" and p.precision == "street"


@pytest.mark.parametrize("text", ["Trời mưa to quá mọi người ơi", "Sài Gòn mưa kinh khủng", ""])
def test_no_location_is_city_level(text):
    p = locate(text)
    assert p.precision == "city" and (p.lat, p.lon) == CITY_CENTRE
    assert p.ward is None and p.street is None


def test_every_place_is_inside_the_city():
    for text, _ in REPORTS:
        assert _inside_city(locate(text))


# ---- JSONL source -------------------------------------------------------------------------------------
def _line(**kw) -> str:
    base = {"id": "1", "platform": "x", "url": "https://x.com/a/status/1", "text": "Cây đổ ở Q1",
            "author": "a", "posted_at": "2025-10-28T17:00:00+07:00"}
    base.update(kw)
    return json.dumps({k: v for k, v in base.items() if v is not None}, ensure_ascii=False) + "\n"


def test_jsonl_source_resumes_from_its_cursor(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text(_line(id="1") + _line(id="2") + "\n" + _line(id="3"), encoding="utf-8")
    src = JsonlFileSource(path, name="import")
    items, cursor = src.fetch(None)
    assert [p.id for p in items] == ["1", "2", "3"] and cursor == "4"  # the blank line is consumed too
    assert src.fetch(cursor) == ([], "4")
    with path.open("a", encoding="utf-8") as f:
        f.write(_line(id="4"))
    items, cursor = JsonlFileSource(path).fetch(cursor)  # a new instance: a restart
    assert [p.id for p in items] == ["4"] and cursor == "5"


def test_jsonl_source_rejects_bad_lines_with_a_reason(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text(
        _line(id="ok1")
        + '{"id": "2", "text": "ngập", \n'  # bad JSON
        + _line(id="3", text=None)  # no text
        + _line(id=None)  # no id
        + _line(id="5", posted_at=None)  # no time
        + _line(id="6", posted_at="2025-10-28T17:00:00")  # no offset
        + "[1, 2]\n"  # not an object
        + _line(id=7, platform=None),  # numeric id, no platform: both accepted
        encoding="utf-8")
    items, cursor = JsonlFileSource(path, platform="facebook").fetch(None)
    assert cursor == "8"
    rejected = {r.line_no: r.reason for r in items if isinstance(r, Rejected)}
    assert set(rejected) == {2, 3, 4, 5, 6, 7}
    assert "JSON" in rejected[2]
    assert "text" in rejected[3] and "id" in rejected[4] and "posted_at" in rejected[5]
    assert "offset" in rejected[6] and "object" in rejected[7]
    posts = [p for p in items if isinstance(p, Post)]
    assert [(p.id, p.platform) for p in posts] == [("ok1", "x"), ("7", "facebook")]
    assert all(r.raw for r in items if isinstance(r, Rejected))


def test_jsonl_source_leaves_a_half_written_last_line(tmp_path):
    path = tmp_path / "posts.jsonl"
    full = _line(id="2")
    path.write_text(_line(id="1") + full[:20], encoding="utf-8")
    items, cursor = JsonlFileSource(path).fetch(None)
    assert [p.id for p in items] == ["1"] and cursor == "1"
    path.write_text(_line(id="1") + full, encoding="utf-8")
    items, cursor = JsonlFileSource(path).fetch(cursor)
    assert [p.id for p in items] == ["2"] and cursor == "2"


def test_jsonl_source_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        JsonlFileSource(tmp_path / "nope.jsonl").fetch(None)
    (tmp_path / "a.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(SourceError, match="cursor"):
        JsonlFileSource(tmp_path / "a.jsonl").fetch("abc")


def test_source_registry_builds_from_config(tmp_path):
    assert SOURCE_KINDS["jsonl"] is JsonlFileSource
    conf = SocialSourceConf(name="samples", kind="jsonl", path="samples/social/posts.jsonl")
    src = build_source(conf, resolve=lambda p: ROOT / p)
    assert isinstance(src, JsonlFileSource) and src.name == "samples"
    with pytest.raises(SourceError, match="unknown kind"):
        build_source(SocialSourceConf(name="x", kind="carrier-pigeon"))


def test_sample_posts_parse_with_exactly_one_malformed_line():
    items, cursor = JsonlFileSource(SAMPLES).fetch(None)
    rejected = [i for i in items if isinstance(i, Rejected)]
    posts = [i for i in items if isinstance(i, Post)]
    assert len(rejected) == 1 and len(posts) >= 25
    assert int(cursor) == len(SAMPLES.read_text(encoding="utf-8").splitlines())
    assert all(p.posted_at.utcoffset() == timedelta(hours=7) for p in posts)


# ---- pipeline ---------------------------------------------------------------------------------------------
def _post(id="1001", text="Mưa từ chiều, đường Nguyễn Hữu Cảnh ngập tới yên xe, xe chết máy nằm la liệt",
          platform="x", author="saigon_mua") -> Post:
    return Post(id=id, platform=platform, url=f"https://x.com/{author}/status/{id}", text=text, author=author,
                posted_at=datetime(2025, 10, 28, 17, 42, tzinfo=ICT))


def test_pipeline_builds_a_valid_candidate(categories):
    pipe = SocialPipeline(categories, threshold=0.5, salt="pepper")
    c = pipe.process(_post())
    assert isinstance(c, Candidate)
    assert c.source == "social" and c.source_ref == "x:1001" and c.id == candidate_id("social", "x:1001")
    assert c.category == "flooding" and 0.5 <= c.confidence <= 1
    assert c.location.precision == "street" and c.location.street == "Nguyễn Hữu Cảnh"
    assert c.observed_at == datetime(2025, 10, 28, 17, 42, tzinfo=ICT)
    assert c.summary.startswith("Bài đăng báo ngập nước tại đường Nguyễn Hữu Cảnh")
    ev = c.evidence[0]
    assert ev.kind == "post" and ev.url == "https://x.com/saigon_mua/status/1001"
    assert ev.author_hash == author_hash("saigon_mua", "pepper")
    assert "saigon_mua" not in c.to_json().replace(ev.url, "")  # the handle only travels inside the post URL
    assert c.detector.name == "social-keyword" and c.detector.backend == "lexicon"
    assert c.detector.model_version == load_lexicon().version and c.detector.threshold == 0.5
    assert "ngập tới yên" in c.attributes["phrases"] and c.attributes["location_precision"] == "street"
    assert Candidate.model_validate_json(c.to_json()) == c


def test_pipeline_is_deterministic(categories):
    a = SocialPipeline(categories, 0.5, "pepper").process(_post())
    b = SocialPipeline(categories, 0.5, "pepper").process(_post())
    assert a.to_json() == b.to_json()


def test_pipeline_drops_retweets_and_reposts_but_replays_the_same_post(categories):
    pipe = SocialPipeline(categories, 0.5, "pepper")
    first = pipe.process(_post())
    assert first is not None
    assert pipe.evaluate(_post(id="1002", text="RT @saigon_mua: " + _post().text)).reason == "retweet"
    repost = _post(id="2001", platform="facebook", author="other",
                   text=_post().text.upper() + "  https://t.co/abc")
    assert pipe.evaluate(repost).reason == "repost" and pipe.process(repost) is None
    assert pipe.process(_post()) == first  # the same post again (a replay) gives the same candidate


def test_pipeline_returns_none_for_non_reports_and_low_confidence(categories):
    pipe = SocialPipeline(categories, 0.5, "pepper")
    assert pipe.evaluate(_post(id="1", text="Dạo này ngập việc quá")).reason == "no_category"
    assert pipe.evaluate(_post(id="2", text="Dự báo tối nay mưa lớn, đường có thể ngập")).reason == "not_report"
    strict = SocialPipeline(categories, 0.999, "pepper")
    out = strict.evaluate(_post(id="3", text="Cây đổ trên đường Lê Lợi"))
    assert out.reason == "below_threshold" and out.candidate is None


def test_pipeline_ignores_categories_it_is_not_configured_for(categories):
    trees_only = [c for c in categories.categories if c.code == "fallen_tree"]
    pipe = SocialPipeline(trees_only, 0.5, "pepper")
    assert pipe.process(_post()) is None
    assert pipe.process(_post(id="9", text="Cây đổ chắn ngang đường Lê Lợi sáng nay")).category == "fallen_tree"


def test_pipeline_city_level_post_is_kept(categories):
    c = SocialPipeline(categories, 0.5, "pepper").process(
        _post(id="7", text="Sài Gòn mưa kinh khủng, nhà mình nước lên tới đầu gối rồi"))
    assert c is not None and c.location.precision == "city"
    assert (c.location.lat, c.location.lon) == CITY_CENTRE and "chưa rõ vị trí" in c.summary


def test_pipeline_uses_the_place_tag_when_the_text_has_no_location(categories):
    post = _post(id="8", text="Nhà mình nước lên tới đầu gối rồi").model_copy(update={"place": "Q.Bình Thạnh"})
    c = SocialPipeline(categories, 0.5, "pepper").process(post)
    assert c.location.precision == "ward" and c.attributes["district"] == "Quận Bình Thạnh"


def test_pipeline_on_the_sample_posts(categories):
    pipe = SocialPipeline(categories, 0.5, "pepper")
    items, _ = JsonlFileSource(SAMPLES).fetch(None)
    outcomes = {p.ref: pipe.evaluate(p) for p in items if isinstance(p, Post)}
    made = {ref: o.candidate for ref, o in outcomes.items() if o.candidate}
    assert set(made) == {
        "x:1001", "facebook:2001", "x:1002", "zalo:3001", "x:1003", "facebook:2002", "x:1004",  # flooding
        "x:1005", "facebook:2003", "x:1006", "zalo:3002",  # fallen trees
        "x:1007", "facebook:2004", "x:1008", "x:1009",  # pothole, manhole, pipe, power line
    }
    assert outcomes["x:1017"].reason == "retweet" and outcomes["facebook:2010"].reason == "repost"
    assert {made[r].category for r in ("x:1005", "facebook:2003", "x:1006", "zalo:3002")} == {"fallen_tree"}
    assert made["facebook:2003"].location.ward == "Phường Bình Thạnh"
    assert all(c.location.precision in ("street", "ward") for r, c in made.items() if r != "x:1003")


# ---- asides that name a place (news puts the place in brackets or between commas) ----------------------------
@pytest.mark.parametrize("text, category", [
    ("Cây xanh trên đường Lê Văn Sỹ (quận 3) ngã đè xe máy", "fallen_tree"),
    ("Cây xanh trên đường Lê Lợi, phường Bến Thành ngã đè xe máy", "fallen_tree"),
    ("Ống nước trên đường Võ Văn Ngân (phường Linh Chiểu, TP Thủ Đức) bị vỡ từ sáng", "water_pipe"),
    ("Cây dầu to đùng trước số 120 Nguyễn Thị Minh Khai vừa ngã chắn ngang 2 làn xe", "fallen_tree"),
])
def test_a_cue_spans_an_aside_naming_a_place(text, category):
    c = classify(text)
    assert (c.category, c.is_report) == (category, True), c


def test_only_an_aside_naming_a_place_loses_its_breaks():
    doc = analyse("Đường Lê Lợi (quận 1, TP.HCM) ngập, phường Bến Thành")
    assert "(" not in doc.texts and ")" not in doc.texts and "," not in doc.texts
    assert doc.cleaned[doc.starts[doc.texts.index("ngập")]:].startswith("ngập")  # offsets still point into the text
    for text in ("Xe bị kẹt (ảnh minh họa) rồi ngã", "cây (phường 1. Sáng nay) ngã", "ngập sâu, mọi người né"):
        doc = analyse(text)
        assert any(f is None for f in doc.folds), text  # no place, or a sentence ends inside: still breaks


# ---- the development sets stay where they are (a floor under each figure; a lexicon change that drops one fails) ----
@pytest.mark.parametrize("name, report_f1, category", [
    ("dev-blind4.jsonl", 0.90, 0.95),  # never read by a rule author
    ("dev-blind5.jsonl", 0.95, 0.90),
    ("dev-blind6.jsonl", 0.93, 0.95),
    ("dev-blind7.jsonl", 0.93, 0.95),
    ("dev-blind10.jsonl", 0.95, 0.95),
    ("dev-blind8.jsonl", 0.88, 0.95),  # never read: news-style, measured once with lexicon 0.6.0
    ("dev-blind9.jsonl", 0.85, 0.90),  # never read: informal, measured once with lexicon 0.6.0
    ("dev-blind11.jsonl", 0.97, 0.97),  # blind with lexicon 0.6.2: 0.889 / 1.000
    ("dev-blind12.jsonl", 0.97, 0.95),  # news-style; blind with 0.6.2: 0.983 / 0.964
    ("dev-blind13.jsonl", 0.95, 0.95),  # informal; blind with 0.6.4: 0.883 / 0.939
    ("dev-blind14.jsonl", 0.97, 0.95),  # tweets, letters, notices; blind with 0.6.4: 0.889 / 0.955
    ("dev-blind15.jsonl", 0.97, 0.95),  # short comments; blind with 0.6.5: 0.887 / 1.000
    ("dev-blind16.jsonl", 0.95, 0.97),  # long press texts; blind with 0.6.6: 0.882 / 0.951
    ("dev-blind17.jsonl", 0.96, 0.97),  # all without diacritics; blind with 0.6.8: 0.881 / 0.979
    ("dev-blind18.jsonl", 0.95, 0.97),  # neighbourhood groups; blind with 0.6.9: 0.860 / 0.978
    ("dev-blind19.jsonl", 0.95, 0.97),  # around 1022 and the utilities; blind with 0.7.0: 0.875 / 1.000
    ("dev-blind20.jsonl", 0.93, 0.95),  # forums and comments; blind with 0.7.0: 0.867 / 0.959
    ("dev-blind21.jsonl", 0.92, 0.95),  # a keyword stream, 30 reports in 100; blind with 0.7.3: 0.744 / 1.000
    ("dev-blind22.jsonl", 0.97, 0.97),  # headlines, captions, bulletins; blind with 0.7.2: 0.926 / 1.000
    ("dev-wide.jsonl", 0.95, 0.95),
    ("dev-wide2.jsonl", 0.93, 0.93),
    ("dev-tune.jsonl", 0.98, 0.98),
    ("vi-news-dev.jsonl", 0.90, 0.95),  # real news and reader reports, in ../shared/data
    ("vi-informal-dev.jsonl", 0.85, 0.85),  # real informal posts, in ../shared/data
])
def test_development_sets_keep_their_figures(name, report_f1, category):
    from social.evaluate import evaluate_rows
    root = Path(__file__).resolve().parents[1]
    places = [root / "samples" / "social" / name, root.parent / "shared" / "data" / name, Path("/work/shared/data") / name]
    path = next((p for p in places if p.exists()), None)
    if path is None:
        pytest.skip(f"{name}: the real texts of ../shared/data are not on this machine")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    figures, _ = evaluate_rows(rows)
    assert figures["report"]["f1"] >= report_f1 and figures["category_accuracy"] >= category, figures


@pytest.mark.parametrize("text, expanded", [
    ("hem 1 Ba Van p Bay Hien ngap", "hem 1 Ba Van phường Bay Hien ngap"),
    ("q Go Vap ngap", "quận Go Vap ngap"),
    ("chờ 5 p nữa", "chờ 5 p nữa"),  # five minutes
    ("mình ở p bình thạnh", "mình ở p bình thạnh"),  # no capital: not taken for a ward
])
def test_a_lone_p_or_q_before_a_capitalised_name_is_the_ward_or_district(text, expanded):
    assert clean(text) == expanded


# asking whom to report: part of a report after a clause that describes the incident, a how-to question when the
# incident is only the object of the asking
@pytest.mark.parametrize("text, is_report", [
    ("Hố ga trước nhà mình ở hẻm 45 Lê Văn Sỹ mất nắp 3 ngày rồi, gọi số nào để báo vậy mn", True),
    ("ong nuoc be tren duong Cong Hoa nuoc chay tum lum, bao o dau vay moi nguoi", True),
    ("Làm sao để báo cáo đèn đường hư cho phường vậy mọi người?", False),
    ("den duong hu thi bao cho ai vay mn, phuong hay dien luc?", False),
    ("Muốn phản ánh ổ gà thì gọi số nào vậy mọi người?", False),
])
def test_asking_whom_to_report(text, is_report):
    c = classify(text)
    assert c.category is not None and c.is_report is is_report, c
    assert any(s.startswith("ask_whom:") for s in c.signals)


@pytest.mark.parametrize("text, street, lat, lon", [
    ("Đường Vành đai 2 đoạn qua phường Phước Long bị sụt lún", "Vành Đai 2", 10.82, 106.77),
    ("Ống nước bể trên đường 3/2, phường 8, TP Vũng Tàu", "Ba Tháng Hai", 10.36, 107.09),  # not District 10's 3/2
    ("Cây xanh ngã trên đường 3/2 quận 10", "Ba Tháng Hai", 10.77, 106.67),
])
def test_ring_road_and_a_street_name_in_two_cities(text, street, lat, lon):
    p = locate(text)
    assert p.street == street and p.precision == "street"
    assert abs(p.lat - lat) < 0.02 and abs(p.lon - lon) < 0.02, p


@pytest.mark.parametrize("text, ward", [
    ("day cap vien thong o hem 17 tran quang khai p tan dinh dut", "Phường Tân Định"),
    ("ong nuoc o duong nguyen van tiet, p lai thieu bi xi", "Phường Lái Thiêu"),
])
def test_a_lowercase_lone_p_before_a_ward_name_is_the_ward(text, ward):
    assert locate(text).ward == ward
    assert locate("mình p đi làm sớm").ward is None  # "p" is also "phải"


def test_a_school_named_like_a_street_gives_way_to_the_street_it_stands_on():
    p = locate("Cây dầu trước cổng trường Lê Quý Đôn trên đường Võ Văn Tần vừa bật gốc")
    assert p.street == "Võ Văn Tần"
    assert locate("Ngập trước bệnh viện Nguyễn Tri Phương").street == "Nguyễn Tri Phương"  # no other street named


@pytest.mark.parametrize("text, district", [
    ("ngập đường ven biển, bà con Long Điền chú ý", "Huyện Long Điền"),  # merged into Long Đất in 2025
    ("cây đổ ở huyện Đất Đỏ", "Huyện Đất Đỏ"),
])
def test_districts_merged_before_the_reform_are_still_named(text, district):
    p = locate(text)
    assert p.district == district and 10.35 < p.lat < 10.55 and 107.15 < p.lon < 107.35, p


def test_a_date_street_named_in_words_or_digits_is_the_same_in_evaluation():
    from social.evaluate import name_key
    assert name_key("30 Tháng 4") == name_key("Đường 30/4") == "30/4"


def test_a_mask_hides_a_cue_only_where_it_takes_one_of_the_cues_words():
    # "ngã tư" in the gap of a camera phrase is just the place; "ngã" as the tree cue's own word is the crossroads
    c = classify("Camera đèn đỏ ngã tư Hàng Xanh bị quay ngược lên trời luôn rồi, ai báo giùm với")
    assert c.category == "camera_fault" and c.is_report, c
    assert classify("Cây xanh ở ngã tư Bảy Hiền").category is None


def test_an_aside_naming_a_place_loses_its_closing_comma_too():
    doc = analyse("cây dầu trên đường Yersin, phường Thủ Dầu Một, đã gãy ngang thân")
    assert all(f is not None for f in doc.folds), doc.texts
    c = classify("Sáng nay cây dầu cao hơn 15 m trên đường Yersin, phường Thủ Dầu Một, đã gãy ngang thân, đổ chắn đường")
    assert c.category == "fallen_tree" and c.is_report, c
    doc = analyse("ngập ở phường Tân Định, xe chết máy")  # the comma that ends the sentence after it stays
    assert doc.texts.count(",") == 1


def test_tdm_is_thu_dau_mot():
    assert locate("mieng ho ga tren duong Yersin TDM bi lun").district == "Thành phố Thủ Dầu Một"



@pytest.mark.parametrize("raw, expanded", [
    ("duong Dinh Bo Linh q.bt ngap", "duong Dinh Bo Linh quận Bình Thạnh ngap"),
    ("qgv ngập", "quận Gò Vấp ngập"),
    ("bt thôi mà", "bt thôi mà"),  # "bt" alone is "bình thường"
])
def test_district_initials_after_q(raw, expanded):
    assert clean(raw) == expanded


@pytest.mark.parametrize("text", [
    "ko phải cây đổ đâu, cây bị cắt tỉa thôi nên nằm đó chờ xe chở đi",  # a denial
    "có ai biết ở Vũng Tàu đường Thùy Vân bị sụt lún hôm qua sửa chưa ko",  # asks whether it was fixed
])
def test_a_cue_inside_a_denial_or_a_question_about_the_repair_is_no_report(text):
    assert not classify(text).is_report


def test_evaluation_takes_a_streets_other_name_for_the_street():
    from social.evaluate import evaluate_rows
    rows = [{"text": "cây me tây ngã ra Xa lộ Hà Nội đoạn Suối Tiên sáng nay", "category": "fallen_tree",
             "is_report": True, "street": "Xa lộ Hà Nội"}]  # renamed Võ Nguyên Giáp in 2023
    figures, _ = evaluate_rows(rows)
    assert figures["location_accuracy"] == 1.0, figures



def test_a_hedge_counts_only_in_the_sentence_that_names_the_incident():
    report = ("Sáng nay cây dầu trên đường Lê Lợi bật gốc, đè lên hai xe máy. Đơn vị cây xanh cho biết sẽ cử người đến "
              "cưa dọn, có thể phải cấm đường vài giờ.")
    c = classify(report)
    assert c.is_report and not any(s.startswith("hedge:") for s in c.signals), c  # the plan, in a later sentence
    c = classify("Chiều nay đường Nguyễn Hữu Cảnh có thể ngập sâu nếu mưa lớn kéo dài")
    assert not c.is_report and "hedge:có thể" in c.signals, c


def test_equal_evidence_goes_to_the_category_named_first_and_precedence_needs_as_much_evidence():
    c = classify("Hầm chui tối om vì đèn chiếu sáng hỏng từ tối qua, vài hộp đèn bung nắp, dây điện lòi ra ngoài")
    assert c.category == "streetlight", c  # power before streetlight only with as much evidence for power
    c = classify("Vỡ đường ống nước sáng nay làm sụt lún một đoạn đường, tạo hố tử thần")
    assert c.category == "water_pipe", c



def test_the_city_named_only_beside_a_story_from_elsewhere_does_not_make_it_ours():
    c = classify("o que em Long An hom qua giong loc lam do ca chuc cot dien, mat dien ca xa, toi nay van chua co dien. "
                 "Sai Gon minh song suong that")
    assert not c.is_report and any(s.startswith("other_place:") and "(+hcmc)" not in s for s in c.signals), c
    c = classify("Sáng nay ở quận 7 TP.HCM cây xanh bật gốc đè xe, giống vụ ở Hà Nội tuần trước")
    assert c.is_report, c  # the city shares the incident's sentence


def test_an_old_district_named_bare_after_a_comma_is_an_aside():
    doc = analyse("Cây xanh trên đường Nguyễn Văn Trỗi, Phú Nhuận vừa gãy đổ đè lên mái tôn")
    assert "," not in doc.texts
    assert classify("Cây xanh trên đường Nguyễn Văn Trỗi, Phú Nhuận vừa gãy đổ đè lên mái tôn").category == "fallen_tree"
