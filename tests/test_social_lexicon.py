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
