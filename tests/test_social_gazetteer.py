"""The street gazetteer (social/streets.yaml) under the locator: every street is found by its name, with and
without diacritics, in lowercase, with and without "đường"; ordinary sentences name no street; positions are
inside the city; no two entries claim the same name.

All example sentences are written for these tests (none is copied from a corpus).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.candidate import HCMC_BOUNDS
from social.locate import STREETS_PATH, default_locator
from social.normalize import fold

ROOT = Path(__file__).resolve().parents[1]
_RAW = yaml.safe_load(STREETS_PATH.read_text(encoding="utf-8"))["streets"]
NAMES = [s["name"] for s in _RAW]
ALIASES = [(s["name"], a) for s in _RAW for a in s.get("aliases") or []]
# Different streets whose names differ only in their diacritics (Nguyễn Văn Luông, Quận 6 / Nguyễn Văn Lượng, Gò
# Vấp): told apart when a post carries diacritics; typed without them, either may be given.
SAME_FOLD = {"nguyen van luong"}


def _street(text: str) -> str | None:
    return default_locator().locate(text).street


def _forms(name: str) -> list[str]:
    """The ways a post writes a street: with diacritics, lowercase, without diacritics; after "đường" and bare."""
    out = []
    for n in (name, name.lower(), fold(name)):
        marked = n != fold(n)
        lead, verb = ("đường", "đang ngập") if marked else ("duong", "dang ngap")
        out += [f"{lead} {n}", f"{n} {verb}", f"cây ngã trên {lead} {n} sáng nay" if marked else
                f"cay nga tren {lead} {n} sang nay"]
    return out


# Words that social/normalize.py reads as chat abbreviations ("hong" → "không") except inside a name typed without
# diacritics ("le hong phong"): those names get a test of their own.
_EXPANDED_WORDS = {"hong"}


def _has_a_chat_word(name: str) -> bool:
    return not _EXPANDED_WORDS.isdisjoint(fold(name).split())


@pytest.mark.parametrize("name", NAMES)
def test_every_street_is_found_by_its_name(name):
    forms = [t for t in _forms(name) if not (_has_a_chat_word(name) and t.isascii())]
    wrong = {t: _street(t) for t in forms}
    wrong = {t: s for t, s in wrong.items()
             if s != name and not (t.isascii() and fold(name) in SAME_FOLD and s and fold(s) == fold(name))}
    assert not wrong, wrong


@pytest.mark.parametrize("name", [n for n in NAMES if _has_a_chat_word(n)])
def test_names_with_hong_typed_without_diacritics(name):
    assert all(_street(t) == name for t in _forms(name) if t.isascii())


@pytest.mark.parametrize("name,alias", ALIASES)
def test_every_alias_gives_its_street(name, alias):
    for text in (f"{alias} đang ngập nặng", f"{fold(alias)} dang ngap nang"):
        assert _street(text) == name, text


# ---- sentences that name no street ---------------------------------------------------------------------
NO_STREET = [
    # advice, weather, daily life, with diacritics
    "Mọi người nhớ mang áo mưa khi ra đường nhé",
    "Trời hôm nay mưa to quá, ở nhà cho an toàn",
    "Chúc cả nhà một ngày bình an và vui vẻ",
    "Mong thế giới luôn hòa bình, không còn chiến tranh",
    "Hai nước ký hiệp định hòa bình sau nhiều năm đàm phán",
    "Ngày thống nhất đất nước là ngày vui của cả dân tộc",
    "Chúng ta cần thống nhất ý kiến trước khi họp",
    "Tình yêu này sẽ tồn tại vĩnh viễn trong tim em",
    "Anh ấy bị cấm thi đấu vĩnh viễn vì vi phạm luật",
    "Mực nước sông vẫn cao hơn mức báo động một",
    "Giá xăng vẫn cao nên nhiều người đi xe buýt",
    "Tuyên ngôn độc lập được đọc tại quảng trường Ba Đình năm 1945",
    "Mình thích tự do đi đây đi đó mỗi cuối tuần",
    "Quần đảo Hoàng Sa và Trường Sa là của Việt Nam",
    "Dãy Trường Sơn kéo dài dọc miền Trung",
    "Con mèo nhà mình ngủ cả ngày trên ghế sofa",
    "Sáng nay mình đi chợ mua rau, cá và trái cây",
    "Cuối tuần này cả nhà đi biển chơi",
    "Hôm qua bạn tôi mới mua một chiếc xe máy mới",
    "Dự báo tuần sau trời nắng nóng, nhớ uống đủ nước",
    "Các bạn học sinh chuẩn bị thi học kỳ vào tháng sau",
    "Quán cà phê này có nhạc hay và đồ uống ngon",
    "Em bé nhà hàng xóm khóc suốt đêm qua",
    "Công ty thông báo nghỉ lễ ba ngày",
    "Nên kiểm tra phanh xe trước mùa mưa",
    "Đừng để trẻ em chơi gần ổ điện",
    "Chiều nay có mưa rào và dông vài nơi",
    "Bài hát này làm mình nhớ quê hương quá",
    "Tôi vừa nấu xong nồi canh chua cá lóc",
    "Giá vàng hôm nay tăng nhẹ so với hôm qua",
    "Mùa này hoa mai nở rất đẹp",
    # the same kind, typed without diacritics
    "moi nguoi nho mang ao mua khi ra duong nhe",
    "troi hom nay mua to qua, o nha cho an toan",
    "mong the gioi luon hoa binh, khong con chien tranh",
    "chung ta can thong nhat y kien truoc khi hop",
    "tinh yeu nay se ton tai vinh vien",
    "anh ay bi cam thi dau vinh vien",
    "muc nuoc song van cao hon muc bao dong",
    "gia xang van cao nen nhieu nguoi di xe buyt",
    "minh thich tu do di day di do moi cuoi tuan",
    "sang nay minh di cho mua rau ca va trai cay",
    "cuoi tuan nay ca nha di bien choi",
    "hom qua ban toi moi mua mot chiec xe may moi",
    "du bao tuan sau troi nang nong, nho uong du nuoc",
    "quan ca phe nay co nhac hay va do uong ngon",
    "cong ty thong bao nghi le ba ngay",
    "nen kiem tra phanh xe truoc mua mua",
    "chieu nay co mua rao va dong vai noi",
    "gia vang hom nay tang nhe so voi hom qua",
    "em be nha hang xom khoc suot dem qua",
    "quan dao hoang sa va truong sa la cua viet nam",
    "day truong son keo dai doc mien trung",
    "ngay 3/2 la ngay thanh lap dang",
    "hen gap lai vao ngay 30/4 nhe",
    # names of streets whose letters without diacritics are also everyday words
    "mua tanh mot luc thi nuoc tu xuong",
    "ba hom nay troi mua suot",
    "bac hai nha ben moi ve que",
    "cu giu nguyen xi nhu cu nhe",
    "minh dang dung dien thoai",
    "tan huong ky nghi cuoi tuan",
    "co le co mua chieu nay",
    "xe cho 30 tan da vua qua cau",
    "doan kich mang dao cu len san khau",
    "nhiều ngày nay nước tự xuống rất chậm",
    "Bác Hai nhà bên cho mình ít rau",
    "Ba hôm nay trời mưa liên tục",
    "anh Trần Văn Quang bán bánh mì rất ngon",
]


@pytest.mark.parametrize("text", NO_STREET)
def test_ordinary_sentences_name_no_street(text):
    assert _street(text) is None


# ---- names that are also wards or old districts -------------------------------------------------------------
@pytest.mark.parametrize("text,ward", [
    ("phường Khánh Hội đang ngập", "Phường Khánh Hội"),
    ("phuong khanh hoi dang ngap", "Phường Khánh Hội"),
    ("phường Minh Phụng cây ngã", "Phường Minh Phụng"),
    ("phường Bình Quới mưa lớn ngập", "Phường Bình Quới"),
    ("phường Tân Sơn Nhì ngập", "Phường Tân Sơn Nhì"),
])
def test_a_ward_named_with_its_prefix_is_the_ward_not_a_street(text, ward):
    place = default_locator().locate(text)
    assert place.ward == ward and place.street is None


@pytest.mark.parametrize("text,legacy", [  # old wards (before July 2025) named after a street
    ("phường Phạm Ngũ Lão, quận 1 ngập", "Phường Phạm Ngũ Lão, Quận 1"),
    ("phuong pham ngu lao q1 ngap", "Phường Phạm Ngũ Lão, Quận 1"),
    ("phường Nguyễn Cư Trinh quận 1 cây đổ", "Phường Nguyễn Cư Trinh, Quận 1"),
    ("phường Nguyễn Thái Bình quận 1 mất nắp cống", "Phường Nguyễn Thái Bình, Quận 1"),
    ("xã Phạm Văn Hai ngập", "Xã Phạm Văn Hai, Huyện Bình Chánh"),
])
def test_an_old_ward_named_after_a_street_is_the_ward(text, legacy):
    place = default_locator().locate(text)
    assert place.ward_legacy == legacy and place.street is None


# ---- positions and names ---------------------------------------------------------------------------------
def test_every_position_is_inside_the_city():
    (lat0, lat1), (lon0, lon1) = HCMC_BOUNDS["lat"], HCMC_BOUNDS["lon"]
    for s in _RAW:
        for lat, lon in [(s["lat"], s["lon"])] + [tuple(p) for p in s.get("points") or []]:
            assert lat0 <= lat <= lat1 and lon0 <= lon <= lon1, (s["name"], lat, lon)


def test_the_first_point_is_the_midpoint_when_points_are_listed():
    for s in _RAW:
        pts = s.get("points") or []
        assert all(len(p) == 2 for p in pts), s["name"]
        assert [s["lat"], s["lon"]] not in [list(p) for p in pts], f"{s['name']}: the midpoint is lat/lon already"


def test_no_two_streets_claim_the_same_name():
    owner: dict[str, str] = {}
    for s in _RAW:
        for text in [s["name"], *(s.get("aliases") or [])]:
            key = fold(str(text))
            if key in SAME_FOLD:
                continue
            assert owner.setdefault(key, s["name"]) == s["name"], (text, owner[key], s["name"])
        assert len({fold(str(a)) for a in s.get("aliases") or []} | {fold(s["name"])}) == \
            1 + len(s.get("aliases") or []), f"{s['name']}: an alias repeats the name or another alias"
