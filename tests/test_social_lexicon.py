"""Lexicon syntax and word matching of the social classifier: groups of several-word alternatives, mixed typing,
and the general rules for what is not a current report. Every sentence here is written for these tests."""
from __future__ import annotations

import pytest

from social.classify import classify
from social.locate import locate
from social.normalize import analyse
from social.phrases import PhraseSet, parse_phrase, parse_phrases


# ---- groups of several-word alternatives ----------------------------------------------------------------
def test_group_expands_to_one_phrase_per_alternative_with_the_written_text():
    got = parse_phrases("xuống cấp ~2 (đạo đức|văn hóa)", weight=0.0, label="x")
    assert len(got) == 2 and {p.text for p in got} == {"xuống cấp ~2 (đạo đức|văn hóa)"}
    ps = PhraseSet.of(got)
    assert [m.text for m in ps.find(analyse("lối sống xuống cấp văn hóa"))] == ["xuống cấp văn hóa"]
    assert ps.find(analyse("lối sống xuống cấp văn nghệ")) == []  # "văn" alone is not an alternative


@pytest.mark.parametrize("bad", ["a (b|)", "a (b c", "a b)", "(a|b"])
def test_bad_groups_are_refused(bad):
    with pytest.raises(ValueError):
        parse_phrases(bad)


def test_parse_phrase_refuses_a_group():
    with pytest.raises(ValueError, match="parse_phrases"):
        parse_phrase("rác ~1 (điện tử|vũ trụ)")


@pytest.mark.parametrize("text", [
    "Giới trẻ bây giờ xuống cấp đạo đức quá",  # moral decline, not a road
    "Công ty bị rò rỉ thông tin khách hàng",  # a data leak, not a pipe
    "Rác điện tử chất đống trong kho của công ty",  # e-waste in a warehouse
    "Sự nghiệp của anh ấy sụp đổ hoàn toàn",  # a career, not a sinkhole
])
def test_other_senses_written_as_groups_hide_the_cue(text):
    c = classify(text)
    assert not c.is_report, c


@pytest.mark.parametrize("text, category", [
    ("Đường Trần Quang Khải xuống cấp nghiêm trọng, nhiều ổ gà", "pothole_subsidence"),
    ("Ống nước trước nhà số 40 Trần Quang Khải bị rò rỉ nước từ sáng nay", "water_pipe"),
    ("Mặt đường Trần Quang Khải xuống cấp, xe máy đi rất dễ té", "pothole_subsidence"),
])
def test_the_cues_still_count_in_their_own_sense(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


# ---- mixed typing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, category", [
    ("cay ngã chắn ngang đường Trần Quang Khải, xe không qua được", "fallen_tree"),
    ("Đường Trần Quang Khải ngap sâu quá, xe chết máy hết", "flooding"),
    ("mat nắp hố ga trước nhà số 12 Trần Quang Khải, nguy hiểm lắm", "manhole"),
])
def test_a_word_typed_without_diacritics_counts_beside_one_typed_with_them(text, category):
    c = classify(text)
    assert c.category == category and c.is_report, c


@pytest.mark.parametrize("text", [
    "Cây xanh do phường quản lý vừa được cắt tỉa gọn gàng",  # "do" (because/by) is not "đổ"
    "Chạy nhanh thì chắc đè trúng con mèo rồi",  # "nhanh" (fast) is not "nhánh"
])
def test_common_words_written_without_diacritics_do_not_stand_in(text):
    assert classify(text).category != "fallen_tree"


def test_a_lone_word_without_diacritics_needs_an_anchor():
    # both words without diacritics in a text typed with them: too ambiguous ("cay" is also "spicy")
    assert classify("Món này cay nga người luôn, ăn không nổi đâu").category is None


def test_mixed_typing_in_place_names():
    assert locate("Nhà mình ở phuong Bến Thành nước lên tới gối").ward == "Phường Bến Thành"


# ---- general rules: what is and is not a current report -------------------------------------------------
@pytest.mark.parametrize("text, category", [
    # an intersection named is a place of the incident, even though "ngã tư" hides the "ngã" inside it
    ("Ngập ở ngã tư Trần Quang Khải – Hai Bà Trưng, xe cộ ùn ứ", "flooding"),
    # a pole that falls is a power case, not a tree case, although "bị ngã đổ" is said of trees too
    ("Trụ điện trước chợ bị ngã đổ sau tiếng nổ lớn, cả khu phố mất điện", "power_line"),
    ("Cây me trước nhà số 5 Trần Quang Khải bị ngã đổ, đè lên mái tôn", "fallen_tree"),
    # a leak at a water works
    ("Nhà máy nước bị rò rỉ, nước tràn ra đường từ rạng sáng", "water_pipe"),
])
def test_current_reports(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


@pytest.mark.parametrize("text, kind", [
    ("Clip cây đổ ở Bangkok đè bẹp ô tô đang đỗ", "other_place"),
    ("Huế ngập sâu sau bão, nhiều nhà dân bị cô lập", "other_place"),
    ("Ở Mỹ cây đổ đè sập nhà sau trận bão tuyết", "other_place"),
    ("Làm đổ xô nước ngập cả phòng khách, lau mãi không khô", "household"),
    ("Đường này ngập tới đầu gối, đi bơi luôn cho khỏe kkk", "joke"),
    ("Nhiều hố ga ở thành phố bị mất nắp, người dân lo lắng", "habitual"),
])
def test_not_reports(text, kind):
    c = classify(text)
    assert not c.is_report, c
    assert any(s.startswith(kind) for s in c.signals), c.signals


def test_a_pronoun_is_not_a_country():
    c = classify("Hẻm nhà ở anh Tư ngập tới gối từ sáng nay")
    assert c.is_report and not any(s.startswith("other_place") for s in c.signals), c


@pytest.mark.parametrize("text", [
    "Hồi năm 2019 đường Trần Quang Khải ngập cả tuần liền",
    "hoi nam 2016 cay do chan ngang duong Tran Quang Khai",
    "Vào năm 2020 hố tử thần xuất hiện trên đường Trần Quang Khải",
])
def test_a_year_named_as_the_time_of_the_event_is_the_past(text):
    c = classify(text)
    assert not c.is_report and any(s.startswith("past:") for s in c.signals), c


def test_the_year_of_a_full_date_is_not_the_past():
    c = classify("Ngày 12 tháng 10 năm 2025, đường Trần Quang Khải ngập sâu sau cơn mưa lớn")
    assert c.is_report and not any(s.startswith("past:") for s in c.signals), c


@pytest.mark.parametrize("text", ["Hố sâu xuất hiện trên đường Trần Quang Khải", "Người dân phát hiện hố sâu trên đường"])
def test_hien_inside_a_compound_word_is_not_now(text):
    assert "report:hiện" not in classify(text).signals


@pytest.mark.parametrize("text", [
    "Đường Trần Quang Khải giờ này còn ngập không mọi người?",
    "Hố ga trước chợ Tân Định bị mất nắp chưa ạ?",
])
def test_a_yes_no_question_closed_by_a_question_mark_asks_about_the_cue(text):
    assert not classify(text).is_report


@pytest.mark.parametrize("text", [
    "Đường Trần Quang Khải vẫn còn ngập, không ai xử lý hết",  # "còn ... không" without "?": not a question
    "Cây đổ chắn ngang đường Trần Quang Khải, có ai bị thương không?",  # the question is about something else
])
def test_a_report_beside_a_question_still_counts(text):
    assert classify(text).is_report


@pytest.mark.parametrize("text, kind", [
    ("Mưa lớn ở miền Trung, nhiều tuyến đường ngập sâu, cây đổ", "other_place"),
    ("Cây đổ chắn ngang quốc lộ ở Phú Thọ sau cơn giông", "other_place"),
    ("Hố ga mất nắp trên đường Trần Quang Khải đã được khắc phục, người dân yên tâm", "resolved"),
])
def test_more_not_reports(text, kind):
    c = classify(text)
    assert not c.is_report and any(s.startswith(kind) for s in c.signals), c


def test_a_bus_station_named_after_a_region_is_in_the_city():
    c = classify("Bến xe Miền Tây ngập sâu từ chiều nay, xe khách không vào được")
    assert c.is_report and not any(s.startswith("other_place") for s in c.signals), c


# ---- a mixed set of news-style and informal posts written for 1022 Watch -----------------------------------
PROBES = [
 # (text, expected_report, expected_category)
 ("Sáng 12/11, mưa lớn kéo dài khiến nhiều tuyến đường ở quận Bình Tân ngập sâu, người dân phải dắt bộ xe máy.", True, "flooding"),
 ("Khoảng 15h chiều qua, cây sao cao khoảng 20 m trên đường Lý Tự Trọng bất ngờ bật gốc, đổ đè lên hai ô tô đang lưu thông.", True, "fallen_tree"),
 ("Theo Sở Xây dựng, thành phố sẽ đầu tư 2.000 tỷ đồng để chống ngập cho khu vực Nguyễn Hữu Cảnh.", False, None),
 ("Đài khí tượng thủy văn Nam Bộ dự báo triều cường đạt đỉnh vào cuối tuần này, các khu vực trũng thấp cần đề phòng ngập.", False, None),
 ("Chiều 3/10, mưa lớn khiến nhiều tuyến phố ở Hà Nội ngập sâu, giao thông ùn tắc nghiêm trọng.", False, None),
 ("Hẻm 245 Nguyễn Trãi nước ngập tới đầu gối, cả xóm không ai ra khỏi nhà được", True, "flooding"),
 ("troi oi duong nguyen van linh ngap qua, xe chet may nam dai luon", True, "flooding"),
 ("mấy ông ơi đèn đường ở đoạn cầu Kênh Tẻ tắt hết rồi, tối thui chạy xe sợ lắm", True, "streetlight"),
 ("Ống nước bị bể giữa đường Lê Văn Lương, nước phun cao cả mét, khu vực quanh đó mất nước", True, "water_pipe"),
 ("Dây điện võng xuống sát đầu người đi đường ở hẻm 12 Trần Xuân Soạn, rất nguy hiểm", True, "power_line"),
 ("Hôm nay tâm trạng ngập tràn niềm vui vì được tăng lương", False, None),
 ("Mình ngập deadline quá trời luôn mọi người ạ", False, None),
 ("Nhà tôi ở Gò Vấp, cứ mưa là ngập, năm nào cũng vậy, chẳng ai giải quyết", False, None),
 ("Cần tư vấn mua xe máy đi mùa mưa không sợ ngập nước chết máy", False, None),
 ("Làm sao để phòng tránh cây đổ trong mùa mưa bão? Chuyên gia hướng dẫn", False, None),
 ("Vỉa hè đường Phạm Văn Đồng bị các quán nhậu lấn chiếm hết, người đi bộ phải xuống lòng đường", True, "encroachment"),
 ("Rác thải chất đống ngay đầu hẻm 88 Lê Đức Thọ cả tuần nay không ai thu gom, bốc mùi hôi thối", True, "sanitation"),
 ("Nắp cống trên đường Quang Trung bị vỡ, một người đi xe máy đã té ngã", True, "manhole"),
 ("Ổ gà lớn giữa đường Âu Cơ, tối qua có 2 người té xe", True, "pothole_subsidence"),
 ("Bộ phim 'Ngập lụt' sẽ ra rạp vào tháng sau", False, None),
 ("Cây xăng trên đường Cộng Hòa đông nghẹt người đổ xăng", False, None),
 ("Camera giao thông ở ngã tư Hàng Xanh bị hư cả tuần nay", True, "camera_fault"),
 ("Sau trận mưa chiều nay, đường Huỳnh Tấn Phát lại ngập, xe cộ chen nhau trên vỉa hè", True, "flooding"),
 ("Năm ngoái đường này ngập suốt, năm nay đỡ hơn nhiều rồi", False, None),
 ("Người dân xã Bình Mỹ phản ánh nhiều trụ điện nghiêng, có nguy cơ ngã đổ bất cứ lúc nào", True, "power_line"),
 ("Đà Nẵng: cây xanh gãy đổ hàng loạt sau bão số 6", False, None),
 ("Cơn mưa lớn chiều 20/9 làm cây cổ thụ trên đường Nguyễn Thị Minh Khai gãy nhánh, rơi trúng người đi đường", True, "fallen_tree"),
 ("UBND TP.HCM ban hành kế hoạch xử lý điểm ngập giai đoạn 2025-2030", False, None),
 ("Mưa như trút nước, đường Kha Vạn Cân đoạn trước chợ Thủ Đức thành sông", True, "flooding"),
 ("Sụt lún nghiêm trọng trên đường Võ Văn Kiệt, xuất hiện hố sâu khoảng 2m", True, "pothole_subsidence"),
 ("Tôi thấy con đường trước nhà bị ngập, có ai biết vì sao không?", True, "flooding"),
 ("Giá xăng giảm mạnh, người dân đổ xô đi đổ xăng", False, None),
 ("Mất điện từ 8h sáng tới giờ ở phường 12 Tân Bình, nóng quá trời", True, "power_line"),
 ("Cúp nước 2 ngày nay ở chung cư trên đường Lê Văn Việt, dân phải mua nước bình", True, "water_pipe"),
 ("Sài Gòn mưa là ngập, chuyện thường ngày ở huyện", False, None),
 ("Ngập quá ae ơi, đường Lê Văn Sỹ đoạn gần cầu Kiệu nước tới yên xe", True, "flooding"),
 ("Vụ cây đổ đè chết người năm 2022 trên đường Tôn Đức Thắng vẫn còn ám ảnh", False, None),
 ("Đề xuất lắp đặt thêm camera giám sát tại các nút giao trọng điểm", False, None),
]


@pytest.mark.parametrize("text, report, category", PROBES)
def test_written_posts(text, report, category):
    c = classify(text)
    assert c.is_report == report, c
    if report:
        assert c.category == category, c


# ---- evaluation: the place the text names -------------------------------------------------------------------
def test_eval_counts_a_district_outside_the_city_and_a_landmark_as_named():
    from social.evaluate import evaluate_rows
    rows = [
        {"text": "Ống nước vỡ ở huyện Gia Lâm sáng nay, nước chảy lênh láng", "category": "not_incident",
         "is_report": False, "street": "", "ward": "", "district": "Gia Lâm (Hà Nội)"},
        {"text": "Cây đổ chắn ngang ngã tư Hàng Xanh từ sáng nay", "category": "fallen_tree", "is_report": True,
         "street": "ngã tư Hàng Xanh", "ward": "", "district": ""},
    ]
    figures, preds = evaluate_rows(rows)
    assert figures["location_accuracy"] == 1.0, figures


# ---- informal posts: chronic complaints, sarcasm, questions, household plumbing (written for 1022 Watch) ------
INFORMAL_PROBES = [
 ("nhà e ở bình thạnh ngập tới đầu gối r, dọn đồ ko kịp", True, "flooding"),
 ("Đường này ngày nào chả ngập, quen rồi", False, None),
 ("Sống ở Sài Gòn mà, mưa là ngập, chuyện bình thường thôi", False, None),
 ("ai đi qua Nguyễn Hữu Cảnh chưa, giờ còn ngập ko?", False, None),
 ("Cây to đổ rầm một cái ngay trước cổng trường Lê Quý Đôn, hú hồn", True, "fallen_tree"),
 ("trời ơi cái ổ gà to đùng ngay khúc cua Lê Văn Lương, suýt té", True, "pothole_subsidence"),
 ("tuần nào khu này cũng cúp điện, chán thật sự", False, None),
 ("Đi làm về lội nước muốn xỉu luôn, đường Quốc Hương ngập hết", True, "flooding"),
 ("Thảo Điền hôm nay thành Venice, bơi về nhà luôn mọi người", True, "flooding"),
 ("Cô ấy đẹp quá làm tôi đổ gục ngay từ cái nhìn đầu tiên", False, None),
 ("Ngập trong hạnh phúc khi nhận được quà sinh nhật", False, None),
 ("Đội bóng sụp đổ hoàn toàn ở hiệp 2", False, None),
 ("Chiều nay có mưa không mọi người, mai em đi Vũng Tàu", False, None),
 ("Ngập nặng ở Thủ Đức, nước tràn vào nhà dân, nhiều người mất ngủ", True, "flooding"),
 ("Hôm qua đi ngang Phạm Văn Đồng thấy cây đổ chắn hết một làn xe", True, "fallen_tree"),
 ("Trụ điện nghiêng muốn đổ trước nhà số 15 đường số 7, ai có số điện lực gọi dùm", True, "power_line"),
 ("Mọi người cho hỏi số điện thoại đường dây nóng báo cây đổ là số nào vậy?", False, None),
 ("Mẹo xử lý xe máy bị ngập nước chết máy giữa đường", False, None),
 ("Clip: nước ngập sâu, người dân bắt cá trên đường ở Cần Thơ", False, None),
 ("Tui mới thấy cái nắp cống bị ai lấy mất ở đầu hẻm 60 Lý Chính Thắng, mọi người đi đêm cẩn thận", True, "manhole"),
 ("Mưa có 15 phút mà đường Nguyễn Văn Khối đã ngập lút bánh xe rồi", True, "flooding"),
 ("Nghe nói sắp tới sẽ cắt điện toàn khu vực quận 7 để bảo trì", False, None),
 ("Thông báo: ngày 20/11 tạm ngưng cấp nước khu vực phường Tân Định để sửa chữa đường ống", False, None),
 ("đèn đường hẻm nhà mình hư cả tháng rồi mà không ai sửa, tối đi về sợ muốn chết", True, "streetlight"),
 ("Nhiều người dân TP.HCM than phiền về tình trạng ngập mỗi khi mưa lớn", False, None),
 ("Ống nước nhà tôi bị rò rỉ, thợ sửa ống nước bao nhiêu tiền vậy mọi người?", False, None),
 ("Cả đoạn đường Trần Xuân Soạn biến thành sông sau cơn mưa tối nay", True, "flooding"),
 ("Hàng quán lấn chiếm vỉa hè đường Bùi Viện, khách du lịch phải đi dưới lòng đường", True, "encroachment"),
]


@pytest.mark.parametrize("text, report, category", INFORMAL_PROBES)
def test_written_informal_posts(text, report, category):
    c = classify(text)
    assert c.is_report == report, c
    if report:
        assert c.category == category, c


def test_a_phone_call_about_an_outage_is_still_a_report():
    assert classify("Dây điện đứt rơi xuống hẻm 20 Lê Văn Sỹ, ai có số điện thoại điện lực gọi giùm").is_report


# ---- news-style posts (written for 1022 Watch) ---------------------------------------------------------------
NEWS_PROBES = [
 ("Cảnh sát giao thông phải phân luồng vì cây đổ chắn ngang đường Nguyễn Văn Trỗi sáng nay", True, "fallen_tree"),
 ("Theo thống kê, năm 2024 TP.HCM còn 30 điểm ngập do mưa", False, None),
 ("Lịch cúp điện TP.HCM ngày mai: nhiều khu vực ở quận Tân Phú mất điện cả ngày", False, None),
 ("Người dân bức xúc vì đoạn đường Tỉnh lộ 10 xuống cấp, ổ gà chi chít nhiều tháng nay", True, "pothole_subsidence"),
 ("Ảnh: Đường phố Sài Gòn ngập nặng sau cơn mưa lớn chiều nay", True, "flooding"),
 ("Xe tải lật trên xa lộ Hà Nội, tài xế bị thương", False, None),
 ("Giông lốc làm tốc mái nhiều nhà dân, cây xanh ngã đổ hàng loạt ở huyện Củ Chi chiều qua", True, "fallen_tree"),
 ("TP.HCM khởi công dự án chống ngập 10.000 tỷ đồng", False, None),
 ("Khánh thành hệ thống chiếu sáng mới trên đại lộ Võ Văn Kiệt", False, None),
 ("Mất nước diện rộng ở Thủ Đức do vỡ đường ống cấp nước D1200 trên xa lộ Hà Nội", True, "water_pipe"),
 ("Triều cường vượt báo động 3, nhiều nhà dân ở quận 8 ngập sâu tối nay", True, "flooding"),
 ("Người đàn ông tử vong do điện giật khi đi qua vũng nước ngập trên đường Lê Văn Khương", True, "power_line"),
 ("Bộ Xây dựng hướng dẫn các địa phương kiểm tra cây xanh trước mùa mưa bão", False, None),
 ("Hàng trăm ô tô chết máy vì nước ngập sâu ở khu vực sân bay Tân Sơn Nhất tối qua", True, "flooding"),
 ("Vì sao đường Nguyễn Hữu Cảnh cứ mưa là ngập?", False, None),
 ("Kiến nghị di dời trụ điện nằm giữa lòng đường Lê Văn Thịnh gây nguy hiểm", True, "power_line"),
]


@pytest.mark.parametrize("text, report, category", NEWS_PROBES + [
    ("Cúp điện từ trưa tới giờ ở hẻm 40 Lê Văn Sỹ, máy lạnh tắt hết nóng muốn xỉu", True, "power_line"),
    ("Cái máy lạnh nhà mình chảy nước ngập sàn, thợ tới mai mới sửa", False, None),
    ("Mẹo xử lý khi xe máy bị ngập nước chết máy giữa đường", False, None),
])
def test_written_news_posts(text, report, category):
    c = classify(text)
    assert c.is_report == report, c
    if report:
        assert c.category == category, c


# ---- the misses log follows the state folder it is given (the demo's --var) ---------------------------------
def test_misses_log_goes_to_the_state_dir_given(tmp_path):
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    import configs
    from social.runner import pipeline_for
    from social.sources import Post

    cfg = configs.load(None)
    rt = SimpleNamespace(config=cfg, author_salt=lambda: "salt")
    pipe = pipeline_for(rt, tmp_path / "social")
    post = Post(id="1", text="Dự báo tối nay đường Trần Quang Khải có thể ngập sâu", platform="x",
                posted_at=datetime(2025, 10, 28, 18, 0, tzinfo=timezone(timedelta(hours=7))))
    assert pipe.process(post) is None
    assert (tmp_path / "social" / "misses.jsonl").read_text(encoding="utf-8").strip()


# ---- fixed already, planned work, policy, how to report; covers, cables and tables on the road -------------
@pytest.mark.parametrize("text, kind", [
    ("Ổ gà trước chợ Tân Mỹ đã được vá lại từ hôm qua, xe chạy êm rồi", "resolved"),
    ("Cây gãy ở hẻm 12 Trần Não đã được công ty cây xanh cưa dọn xong trong đêm", "resolved"),
    ("cai nap ho ga o dau hem da duoc thay moi roi nhe moi nguoi", "resolved"),
    ("Lịch cúp điện tuần này: khu vực phường Tân Sơn Nhì ngưng cấp điện để bảo trì từ 7h đến 15h", "notice"),
    ("Công ty cấp nước thông báo tạm ngưng cấp nước khu vực quận 4 để sửa chữa đường ống bị rò rỉ", "notice"),
    ("Thành phố đề xuất tăng mức phạt với quán xá lấn chiếm lòng đường", "meta"),
    ("Làm thế nào để phản ánh ống nước bể trên đường cho công ty cấp nước vậy mọi người?", "ask_whom"),  # a how-to question: asking whom to report
])
def test_what_needs_no_crew_is_not_a_report(text, kind):
    c = classify(text)
    assert not c.is_report, c
    assert any(s.startswith(kind) for s in c.signals), c.signals


@pytest.mark.parametrize("text, category", [
    ("Nắp cống ngay trước cổng trường tiểu học trên đường Nguyễn Trãi bị vỡ, em bé đi học sụp chân", "manhole"),
    ("dây cáp internet rớt xuống ngang hẻm 30 Bạch Đằng, xe tải đi qua kéo theo luôn", "telecom"),
    ("cap mang thong xuong sat dau nguoi o hem 5 Phan Dang Luu, nguy hiem qua", "telecom"),
    ("Quán cà phê bày bàn ghế kín lòng đường trước chợ, xe không có chỗ chạy", "encroachment"),
])
def test_the_object_names_the_case(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


def test_hoi_typed_without_diacritics_is_not_a_question():
    # "hơi" (a little) and "hôi" (smelly) are "hoi" without diacritics as often as "hỏi" (to ask)
    c = classify("rac chat dong dau hem 9 hoi qua troi, may ngay nay chua ai don")
    assert c.is_report and c.category == "sanitation", c


@pytest.mark.parametrize("text", [
    "Tuần này ngập đầu trong công việc, không có thời gian đi cà phê",  # snowed under
    "Chuyên gia đề nghị xây thêm hồ điều tiết để giảm ngập cho khu trung tâm",  # what the city should build
    "Ký ức tuổi thơ: những năm 90 mưa là đường trước nhà ngập tới gối",  # a memory
    "Nghe tin hôm bữa ống nước bể ở quận 5, chắc giờ sửa xong chưa ta?",  # hearsay about the other day, asked
    "Cho mình xin số điện thoại báo cây đổ của công ty cây xanh với",  # how to report
])
def test_more_posts_that_report_nothing(text):
    c = classify(text)
    assert not c.is_report, c


@pytest.mark.parametrize("text, category", [
    ("duong ly thuong kiet co cai ho to giua lan xe may, toi qua 2 nguoi te", "pothole_subsidence"),
    ("Camera phạt nguội trên đường Điện Biên Phủ bị gãy trụ, treo lủng lẳng trên đầu xe cộ", "camera_fault"),
    ("Dây điện đứt sà xuống hẻm 9 Nguyễn Văn Đậu, ai có số điện lực gọi giùm với", "power_line"),  # asks for help
])
def test_more_reports(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


def test_a_place_named_after_a_tree_is_not_a_tree():
    c = classify("Trụ đèn gần cầu vượt Cây Gõ bị xe tải tông gãy sáng nay, đèn tắt cả đoạn")
    assert c.category != "fallen_tree", c


# ---- lexicon 0.5.2: effects, named trees far from their fall, utilities' wording, ads, arrests, campaigns ------
@pytest.mark.parametrize("text, category", [
    ("Ô tô chết máy la liệt trên đường Nguyễn Văn Hưởng sau cơn mưa chiều nay", "flooding"),
    ("Cây dầu cổ thụ trước trường Lê Văn Sỹ gãy ngang", "fallen_tree"),
    ("mat duong nguyen van cu be nat het mot doan dai, xe may chay lac tay lai", "pothole_subsidence"),
    ("Có người cạy mất nắp ga trên đường Phan Văn Trị, để lại cái hố hở hoác", "manhole"),
    ("Đồng hồ nước trước nhà số 15 bị xe rác cán bể, nước xịt lên cao", "water_pipe"),
    ("Nổ trạm biến áp đầu hẻm 80 Bùi Đình Túy, cả khu tối thui từ tối qua", "power_line"),
    ("Kênh Tàu Hủ đoạn gần cầu Chữ Y đen ngòm, cá chết nổi trắng", "sanitation"),
    ("Nhà hàng dựng rạp chiếm hết con hẻm 40 Cao Thắng để làm tiệc", "encroachment"),
])
def test_lexicon_052_reports(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


@pytest.mark.parametrize("text, kind", [
    ("Máy bơm hút nước ngập giá tốt, giao tận nơi, inbox ngay", "ad"),
    ("Công an bắt nhóm đối tượng trộm nắp hố ga bán phế liệu", "crime"),
    ("Phường ra quân bó gọn cáp viễn thông trên các tuyến đường trung tâm", "campaign"),
    ("Sáng qua đường Nguyễn Kiệm bị ngập, trưa nay khô ráo rồi, đi bình thường", "resolved"),
    ("Đèn đường hẻm mình đã sáng lại sau khi báo phường, cảm ơn mọi người", "resolved"),
    ("Cầu dao nhà mình cứ nhảy, chắc chập điện trong ổ cắm, ai biết thợ điện không", "household"),
    ("Trái tim em như bị điện giật khi gặp crush", "figurative"),
    ("Thứ bảy này cúp nước khu vực phường 5 để đấu nối đường ống, bà con nhớ trữ nước", "notice"),
])
def test_lexicon_052_not_reports(text, kind):
    c = classify(text)
    assert not c.is_report, c
    assert any(s.startswith(kind) for s in c.signals), c.signals


@pytest.mark.parametrize("text, category", [
    ("cay phuong truoc cho bi gay canh, canh cay dung dua tren day dien, ai di qua can than", "fallen_tree"),  # "dua" is not "đùa"
    ("den duong hem 33 tat het may dem nay, ko biet bi hu hay sao", "streetlight"),  # "hay" is not "hãy"
])
def test_words_typed_without_diacritics_do_not_read_as_jokes_or_advice(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


@pytest.mark.parametrize("text, district", [
    ("Đường Yersin ở Thủ Dầu Một ngập sâu sau cơn mưa", "Thủ Dầu Một"),
    ("cay nga chan duong o di an, xe ket dai", "Dĩ An"),
    ("Vũng Tàu mưa lớn, đường Hoàng Hoa Thám ngập tới gối", "Vũng Tàu"),
])
def test_the_merged_provinces_cities_are_named_bare(text, district):
    assert locate(text).district.endswith(district)


def test_a_district_whose_name_is_a_word_needs_its_kind():
    assert locate("Vườn nhà mình toàn đất đỏ bazan").district is None


def test_a_heavy_flood_typed_without_diacritics_is_not_sunshine():
    c = classify("duong le loi doan quan 1 dang ngap nang, xe chet may nhieu")
    assert c.is_report and c.category == "flooding", c


# ---- locator: numbered and coded roads, names running into a district, titles, wide districts -----------------
@pytest.mark.parametrize("text, street", [
    ("Đường 30/4 đoạn gần chợ ngập sâu", "Đường 30/4"),
    ("Đường N1 Bình Tân vừa mưa đã ngập", "Đường N1"),
    ("Cây đổ chắn ngang Hương lộ 2 sáng nay", "Hương lộ 2"),
    ("hem 15 Phan Van Han ngap toi goi", "Phan Văn Hân"),
])
def test_numbered_and_coded_roads_and_capitalised_names_without_diacritics(text, street):
    from social.normalize import fold
    assert fold(locate(text).street or "").lower() == fold(street).lower()


def test_a_name_that_runs_into_a_district_ends_where_the_district_begins():
    p = locate("Đường N1 Bình Tân vừa mưa đã ngập")
    assert p.street == "Đường N1" and p.district == "Quận Bình Tân"


def test_a_person_called_like_a_street_is_not_the_street():
    assert locate("Anh Lê Văn Thọ bị thương nhẹ khi cây đổ").street is None
    assert locate("Cây đổ trên đường Lê Văn Thọ").street == "Lê Văn Thọ"


def test_a_street_of_a_wide_district_keeps_its_own_point():
    p = locate("Cây đổ trên đường Lê Lợi, TP Vũng Tàu")
    assert p.level == "street" and p.lat < 10.5  # Vũng Tàu's Lê Lợi, not Quận 1's


def test_a_road_named_as_a_road_is_not_called_duong_twice():
    p = locate("Ngập trên Quốc lộ 13 đoạn qua Thuận An")
    assert p.describe().startswith("Quốc lộ 13")


def test_parts_of_street_names_are_not_context_markers():
    # typed without diacritics, "Van" of Lê Văn Sỹ would be "vẫn" (still), "Thuong" of Lý Thường Kiệt "thường"
    assert not any(s.endswith(("van", "Van")) for s in classify("nap cong truoc so 25 Le Van Sy bi vo").signals)
    assert not any(s.startswith("habitual") for s in classify("duong ly thuong kiet ngap sau").signals)


def test_a_cue_may_span_a_street_name():
    c = classify("Cây dầu cổ thụ trước số 5 Lê Văn Sỹ gãy ngang")
    assert c.category == "fallen_tree", c


def test_ha_is_a_question_only_before_a_question_mark():
    assert classify("duong ha huy giap ngap sau qua, xe chet may").is_report
    assert "question" in classify("Đường Hà Huy Giáp ngập hả?").signals


@pytest.mark.parametrize("text, asks", [
    ("Có khoảng 10 trụ đèn không sáng trên đường Trường Chinh, tối om", False),
    ("Camera ngã tư Hàng Xanh có hoạt động không vậy mọi người", True),
    ("Đường Cộng Hòa có ngập không", True),
])
def test_khong_before_a_verb_is_a_negation_not_a_question(text, asks):
    assert any(s.startswith("question") for s in classify(text).signals) == asks


def test_no_other_sense_is_the_same_letters_as_a_cue():
    """A `not` phrase that folds to a cue's letters never matches text with diacritics (the marks differ) and hides
    the cue in text without them ("cay gay" is far more often "cây gãy" than "cây gậy")."""
    import itertools

    import yaml

    from social.classify import LEXICON_PATH
    from social.normalize import fold

    lex = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))

    def spelled(ph: str) -> list[str]:
        if "(" in ph or "~" in ph:
            return []
        return [" ".join(x) for x in itertools.product(*(t.split("|") for t in ph.split()))]

    cues = {fold(e): e for v in lex["categories"].values() for tier in ("strong", "cues")
            for ph in v.get(tier) or [] for e in spelled(str(ph))}
    clashes = [(e, cues[fold(e)]) for v in lex["categories"].values() for ph in v.get("not") or []
               for e in spelled(str(ph)) if fold(e) in cues and cues[fold(e)] != e]
    assert clashes == []


# ---- lexicon 0.5.5 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, category", [
    ("Mưa một lát mà nước đã lút bánh xe trên đường Tô Ngọc Vân, cống không thoát kịp", "flooding"),
    ("nha minh o hem 7 nuoc tran vao tan nha roi, do dac uot het", "flooding"),
    ("Từ sáng vòi nào cũng khô khốc, ra đầu hẻm thấy nước trào lên từ mặt đường", "water_pipe"),
    ("Nắp cống trước số 9 bị bể nắp, xe máy lọt bánh", "manhole"),
    ("Cái bình điện trên trụ đầu hẻm 12 cháy đen, cả xóm cúp điện", "power_line"),
    ("Chợ tự phát bán chồm ra giữa đường Tân Kỳ Tân Quý mỗi sáng, xe kẹt cứng", "encroachment"),
])
def test_lexicon_055_reports(text, category):
    c = classify(text)
    assert c.is_report and c.category == category, c


@pytest.mark.parametrize("text", [
    "Cây đổ trên đường Võ Văn Tần sáng nay đã được công nhân cắt dọn xong, đường thông thoáng lại",
    "Sự cố vỡ ống trên đường Cộng Hòa đã được khắc phục trong đêm, nước đã có lại",
    "Tòa án xét xử hai bị cáo trộm cáp điện trên quốc lộ 22",
    "Cuối năm deadline ngập tới cổ, cả team ai cũng muốn xỉu",
    "Căn hộ tầng 12 bị cúp nước vì bồn nước trên sân thượng rò rỉ, ban quản lý đang sửa",
])
def test_lexicon_055_not_reports(text):
    assert not classify(text).is_report


@pytest.mark.parametrize("text, expected", [
    ("hong biet nua", "không biet nua"),
    ("mình hong có tiền", "mình không có tiền"),
    ("ngap duong le hong phong quan 10", "ngap duong le hong phong quan 10"),
    ("duong hong bang ngap", "duong hong bang ngap"),
])
def test_hong_is_khong_except_inside_a_name(text, expected):
    from social.normalize import clean
    assert clean(text) == expected


@pytest.mark.parametrize("text, report", [
    ("cho hoi duong nguyen huu canh gio con ngap ko ae, dinh chay qua", False),  # asks, without a "?"
    ("duong nguyen huu canh con ngap khong", False),  # a question that ends the post
    ("Đường Huỳnh Tấn Phát vẫn ngập không ai lo", True),  # "không ai": nobody, a complaint
])
def test_a_yes_no_question_without_a_question_mark(text, report):
    assert classify(text).is_report == report


def test_a_ward_named_like_a_province_is_in_the_city():
    c = classify("cot vien thong o duong so 8 p.hiep binh phuoc bi nga nghieng vao nha dan")
    assert c.is_report and c.category == "telecom", c


def test_numbered_roads_typed_without_diacritics_keep_their_kind():
    assert locate("cây ngã trên tinh lo 15 sáng nay").street == "Tỉnh lộ 15"
