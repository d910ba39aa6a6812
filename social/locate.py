"""Where in Ho Chi Minh City does a post talk about? Text → :class:`Place` (coordinates + precision).

Gazetteers:
- **current wards** (the 168 phường/xã/đặc khu of HCMC after the July 2025 reform) with their
  centroids, and **legacy units** (wards and districts before the reform, of HCMC and of the former
  Bình Dương and Bà Rịa–Vũng Tàu now inside it) — both read from the `vietnamadminunits` package's
  own data files (its sqlite `data/dataset.db`, and `data/converter_2025.json` for which current ward
  an old ward became). Only the data files are read; the package's code is not used (its converter
  geocodes over the network). Loaded once, lazily.
- **streets**: social/streets.yaml, approximate positions of well-known streets.

Matching is diacritics-insensitive for text typed without diacritics and diacritics-aware otherwise
(social.normalize.tokenize); abbreviations ("p.", "q1", "đ.", "ql13") are expanded first.

- a ward needs its prefix: "phường Bến Thành", "P.Bến Thành", "xã Bà Điểm", "phường 6, quận Bình Thạnh"
  (old numbered wards need their old district in the text; an old ward name that exists in several old
  districts is resolved by the district named, else skipped);
- an old district: "quận 1".."quận 12" ("q3", "Q.3"), "quận/huyện/thành phố X", or the bare names of
  HCMC's old named districts ("Bình Thạnh", "Gò Vấp", "Thủ Đức", ..., "Cần Giờ"); "quận 2" and
  "quận 9" (merged into Thủ Đức in 2021) get the centroid of their former wards;
- a street: a name or alias from streets.yaml, with or without "đường"; a house or alley number
  before it goes into the address.

Precision (the Candidate's exact|street|ward|city):
- "street" when a known street is found. With a ward/district also named, the street point nearest to
  it is used — unless even that is farther than MAX_STREET_KM, then the street name is kept but the
  ward/district position is used (many street names exist in more than one district);
- "ward" for a ward; also "ward" for an old district (the contract has no district level; Place.level
  says "district" and the pipeline passes it on as the location_precision attribute);
- "city" when nothing usable is found: the city centre (10.7769, 106.7009).
"""
from __future__ import annotations

import importlib.util
from bisect import bisect_left
import json
import math
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

import re

from social import HERE  # (not __file__: mypyc gives a compiled module another)
from social.errors import GazetteerError
from social.normalize import Caseless, Doc, analyse, fold
from social.phrases import Match, PhraseIndex, PhraseSet, parse_phrase

__all__ = ["Place", "Ward", "LegacyWard", "District", "Street", "Gazetteer", "Locator", "locate",
           "default_locator", "load_gazetteer", "CITY_CENTRE", "STREETS_PATH", "GazetteerError"]

CITY_CENTRE = (10.7769, 106.7009)
STREETS_PATH = HERE / "streets.yaml"
LANDMARKS_PATH = HERE / "landmarks.yaml"
HCMC = "Thành phố Hồ Chí Minh"
LEGACY_PROVINCES = (HCMC, "Tỉnh Bình Dương", "Tỉnh Bà Rịa - Vũng Tàu")
MAX_STREET_KM = {"ward": 3.0, "district": 6.0}
MAX_STREET_KM_WIDE_DISTRICT = 15.0  # a rural district or a merged province's city spans tens of km
# Old districts of the merged provinces whose bare name is also an everyday phrase ("đất đỏ": red soil)
_BARE_NAME_IS_A_WORD = frozenset({"Đất Đỏ"})

# Districts merged into Thủ Đức city in 2021: the legacy data only knows "Thành phố Thủ Đức", so the
# three former districts get the centroid of their former wards.
_THU_DUC_PARTS = {
    "Quận 2": ("Thảo Điền", "An Phú", "An Khánh", "Bình Trưng Đông", "Bình Trưng Tây", "Cát Lái",
               "Thạnh Mỹ Lợi", "An Lợi Đông", "Thủ Thiêm"),
    "Quận 9": ("Long Bình", "Long Thạnh Mỹ", "Tân Phú", "Hiệp Phú", "Tăng Nhơn Phú A", "Tăng Nhơn Phú B",
               "Phước Long A", "Phước Long B", "Trường Thạnh", "Long Phước", "Long Trường", "Phước Bình",
               "Phú Hữu"),
    "Quận Thủ Đức": ("Linh Xuân", "Bình Chiểu", "Linh Trung", "Tam Bình", "Tam Phú", "Hiệp Bình Phước",
                     "Hiệp Bình Chánh", "Linh Chiểu", "Linh Tây", "Linh Đông", "Bình Thọ", "Trường Thọ"),
}
_THU_DUC_CITY = "Thành phố Thủ Đức"
_LONG_DAT = "Huyện Long Đất"
# Districts merged into one before the data's snapshot, that people still name: old district → (the district the data
# knows, the wards it had). Long Điền and Đất Đỏ became Long Đất in 2025.
_MERGED_PARTS = {
    **{name: (_THU_DUC_CITY, parts) for name, parts in _THU_DUC_PARTS.items()},
    "Huyện Long Điền": (_LONG_DAT, ("Long Điền", "Long Hải", "Tam An", "Phước Tỉnh", "Phước Hưng")),
    "Huyện Đất Đỏ": (_LONG_DAT, ("Đất Đỏ", "Phước Long Thọ", "Phước Hội", "Phước Hải", "Long Tân", "Láng Dài")),
}


# ---- gazetteer entries -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ward:
    """A current (post-July-2025) ward, commune or special zone of HCMC."""
    name: str  # "Phường Bến Thành"
    short: str  # "Bến Thành"
    kind: str  # "Phường" | "Xã" | "Đặc khu"
    key: str  # vietnamadminunits wardKey, "phuongbenthanh"
    lat: float
    lon: float


@dataclass(frozen=True)
class LegacyWard:
    """A ward before the reform, in its old district; `current` is the ward it (mostly) became."""
    name: str  # "Phường 6"
    kind: str
    district: str  # "Quận Bình Thạnh"
    lat: float
    lon: float
    current: Ward | None

    @property
    def short(self) -> str:
        """The name without its kind: "Phường 6" → "6", "Thị trấn Long Hải" → "Long Hải"."""
        if self.kind and self.name.startswith(self.kind + " "):
            return self.name[len(self.kind) + 1:]
        return self.name.split(" ", 1)[1] if " " in self.name else self.name


@dataclass(frozen=True)
class District:
    """An old district (quận/huyện/thị xã/thành phố thuộc tỉnh) before the reform."""
    name: str  # "Quận 1", "Huyện Củ Chi", "Quận 2"
    short: str  # "1", "Củ Chi"
    kind: str
    lat: float
    lon: float
    legacy_name: str  # the district name in the legacy data ("Thành phố Thủ Đức" for Quận 2)
    province: str = HCMC  # the old province (Bình Dương and Bà Rịa–Vũng Tàu are part of HCMC now)
    ward_names: frozenset[str] = frozenset()  # for the parts of a merged district (Thủ Đức, Long Đất): its former wards


@dataclass(frozen=True)
class Street:
    name: str
    lat: float
    lon: float
    points: tuple[tuple[float, float], ...]  # midpoint first
    aliases: tuple[str, ...] = ()


Precision = Literal["exact", "street", "ward", "city"]  # Candidate's precision
# what was actually matched: an intersection of two known streets, a landmark, a street, ...
Level = Literal["intersection", "landmark", "street", "ward", "district", "city"]
_PRECISION: dict[Level, Precision] = {"landmark": "street", "street": "street", "ward": "ward", "district": "ward",
                                      "city": "city", "intersection": "exact"}


# (A dataclass for its ==, hash, repr and fields, with an __init__ of its own: compiled, that builds it ~25x faster than
# the generated one of a frozen dataclass. Read it as a value; nothing changes it after it is made.)
@dataclass(init=False, unsafe_hash=True)
class Place:
    lat: float
    lon: float
    ward: str | None = None  # the current ward ("Phường Bến Thành")
    street: str | None = None
    address: str | None = None
    district: str | None = None  # the old district named in the text ("Quận 1")
    precision: Precision = "city"
    level: Level = "city"
    ward_legacy: str | None = None  # the old ward named in the text ("Phường 6, Quận Bình Thạnh")
    matched: tuple[str, ...] = ()  # the place names as written in the post
    landmark: str | None = None  # a landmark from landmarks.yaml ("ngã tư Hàng Xanh")
    cross_street: str | None = None  # the other street of an intersection
    other_area: str | None = None  # a district named that is not in HCMC ("huyện Gia Lâm")

    def __init__(self, lat: float, lon: float, ward: str | None = None, street: str | None = None,
                 address: str | None = None, district: str | None = None, precision: Precision = "city",
                 level: Level = "city", ward_legacy: str | None = None, matched: tuple[str, ...] = (),
                 landmark: str | None = None, cross_street: str | None = None, other_area: str | None = None):
        self.lat, self.lon, self.ward, self.street, self.address = lat, lon, ward, street, address
        self.district, self.precision, self.level, self.ward_legacy = district, precision, level, ward_legacy
        self.matched, self.landmark, self.cross_street, self.other_area = matched, landmark, cross_street, other_area

    def to_location(self) -> dict:
        """The Candidate's location object."""
        return {"lat": self.lat, "lon": self.lon, "ward": self.ward, "street": self.street,
                "address": self.address, "precision": self.precision}

    def describe(self) -> str:
        """Short Vietnamese description for summaries: "đường Lê Lợi, Phường Bến Thành"."""
        parts = []
        if self.street:
            parts.append(with_road_word(self.street))
        if self.ward:
            parts.append(self.ward)
        elif self.district:
            parts.append(f"{self.district} (cũ)")
        return ", ".join(parts) if parts else "TP.HCM (chưa rõ vị trí)"


# ---- loading ------------------------------------------------------------------------------------------
def _package_data_dir() -> Path:
    spec = importlib.util.find_spec("vietnamadminunits")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise GazetteerError("the vietnamadminunits package is not installed (it holds the ward data)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def with_road_word(name: str) -> str:
    """"đường Lê Lợi"; a name that is already a kind of road ("Quốc lộ 13", "Đường Vĩnh Viễn") as it is."""
    if name.lower().startswith(("quốc lộ", "tỉnh lộ", "hương lộ", "đường", "đại lộ", "xa lộ")):
        return name
    return f"đường {name}"


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1 = a
    lat2, lon2 = b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _load_streets(path: Path) -> list[Street]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise GazetteerError(f"{path}: cannot read: {e}") from None
    out = []
    for i, s in enumerate(raw.get("streets") or []):
        try:
            lat, lon = float(s["lat"]), float(s["lon"])
            pts = [(lat, lon)] + [(float(p[0]), float(p[1])) for p in s.get("points") or []]
            out.append(Street(str(s["name"]), lat, lon, tuple(pts), tuple(str(a) for a in s.get("aliases") or [])))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise GazetteerError(f"{path}: streets[{i}]: needs name, lat, lon (and points as [lat, lon]): {e}") from None
    return out


@dataclass(frozen=True)
class Landmark:
    name: str
    lat: float
    lon: float
    aliases: tuple[str, ...] = ()


def _load_landmarks(path: Path) -> list[Landmark]:
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise GazetteerError(f"{path}: cannot read: {e}") from None
    out = []
    for i, s in enumerate(raw.get("landmarks") or []):
        try:
            out.append(Landmark(str(s["name"]), float(s["lat"]), float(s["lon"]),
                                tuple(str(a) for a in s.get("aliases") or [])))
        except (KeyError, TypeError, ValueError) as e:
            raise GazetteerError(f"{path}: landmarks[{i}]: needs name, lat, lon: {e}") from None
    return out


_LONE_LETTER = {"phường": "phường|p", "quận": "quận|q"}


def _lone_letter(name: str) -> str:
    """A ward's or district's phrase that also takes the lone letter people type for its kind: "p tan dinh",
    "q go vap" (lowercase; social.normalize expands a lone p/q only before a capital, as "p" is also "phải")."""
    kind, _, rest = name.partition(" ")
    return f"{_LONE_LETTER[kind]} {rest}" if kind in _LONE_LETTER and rest else name


@dataclass
class Gazetteer:
    wards: list[Ward]
    legacy_wards: list[LegacyWard]
    districts: list[District]
    streets: list[Street]
    landmarks: list[Landmark] = field(default_factory=list)
    _ward_phrases: PhraseSet = field(default_factory=PhraseSet, repr=False)
    _ward_index: dict[str, list[Ward | LegacyWard]] = field(default_factory=dict, repr=False)
    _district_phrases: PhraseSet = field(default_factory=PhraseSet, repr=False)
    _district_index: dict[str, list[District]] = field(default_factory=dict, repr=False)
    _street_phrases: PhraseSet = field(default_factory=PhraseSet, repr=False)
    _street_index: dict[str, Street] = field(default_factory=dict, repr=False)
    _landmark_phrases: PhraseSet = field(default_factory=PhraseSet, repr=False)
    _landmark_index: dict[str, Landmark] = field(default_factory=dict, repr=False)
    _street_by_fold: dict[str, Street] = field(default_factory=dict, repr=False)
    _index: PhraseIndex | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        def add(ps: PhraseSet, index: dict, text: str, item, many: bool = True) -> None:
            key = text.lower()
            if key not in index:
                ps.add(parse_phrase(_lone_letter(key), label=key))
                index[key] = [] if many else item
            if many:
                index[key].append(item)

        for w in self.wards:
            add(self._ward_phrases, self._ward_index, w.name, w)
        for lw in self.legacy_wards:
            add(self._ward_phrases, self._ward_index, lw.name, lw)
        for d in self.districts:
            add(self._district_phrases, self._district_index, f"{d.kind} {d.short}", d)
            if d.province == HCMC and (d.kind.lower() == "huyện" or (d.kind.lower() == "quận" and not d.short.isdigit())):
                # people say "quận Củ Chi" as well as "huyện Củ Chi", and the bare name for HCMC's old districts
                add(self._district_phrases, self._district_index, f"quận {d.short}", d)
                add(self._district_phrases, self._district_index, f"huyện {d.short}", d)
                add(self._district_phrases, self._district_index, d.short, d)
            elif d.province != HCMC and d.short not in _BARE_NAME_IS_A_WORD:
                # the cities and districts of former Bình Dương and Bà Rịa–Vũng Tàu are named bare too ("ở Dĩ An",
                # "Vũng Tàu mưa lớn"); they are in the city since July 2025
                add(self._district_phrases, self._district_index, d.short, d)
        for s in self.streets:
            for text in (s.name, *s.aliases):
                add(self._street_phrases, self._street_index, text, s, many=False)
                self._street_by_fold.setdefault(fold(text), s)
        for lm in self.landmarks:
            for text in (lm.name, *lm.aliases):
                add(self._landmark_phrases, self._landmark_index, text, lm, many=False)

    # lookups by name (for tests and tools)
    def ward(self, name: str) -> Ward | None:
        from social.normalize import fold
        f = fold(name)
        return next((w for w in self.wards if fold(w.short) == f or fold(w.name) == f), None)

    def district(self, name: str) -> District | None:
        from social.normalize import fold
        f = fold(name)
        return next((d for d in self.districts if fold(d.name) == f or fold(d.short) == f), None)

    def street(self, name: str) -> Street | None:
        """The street written so, by its name or one of its other names ("Xa lộ Hà Nội" → Võ Nguyên Giáp)."""
        return self._street_by_fold.get(fold(name.strip()))


def load_gazetteer(data_dir: str | Path | None = None, streets_path: str | Path | None = None) -> Gazetteer:
    data_dir = Path(data_dir) if data_dir else _package_data_dir()
    db = data_dir / "dataset.db"
    if not db.exists():
        raise GazetteerError(f"{db}: not found (vietnamadminunits data)")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            cur_rows = con.execute(
                "SELECT ward, wardShort, wardType, wardKey, wardLat, wardLon FROM admin_units WHERE province = ?",
                (HCMC,)).fetchall()
            marks = ",".join("?" * len(LEGACY_PROVINCES))
            leg_rows = con.execute(
                "SELECT province, provinceKey, district, districtShort, districtType, districtKey, districtLat, "
                f"districtLon, ward, wardType, wardKey, wardLat, wardLon FROM admin_units_legacy WHERE province IN ({marks})",
                LEGACY_PROVINCES).fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise GazetteerError(f"{db}: {e}") from None
    if not cur_rows:
        raise GazetteerError(f"{db}: no wards for {HCMC}")

    wards = [Ward(n, s, t, k, float(la), float(lo)) for n, s, t, k, la, lo in cur_rows if la is not None]
    by_key = {w.key: w for w in wards}

    # which current ward each old ward became (vietnamadminunits' converter table)
    old_to_new: dict[str, list[str]] = {}
    conv_path = data_dir / "converter_2025.json"
    if conv_path.exists():
        conv = json.loads(conv_path.read_text(encoding="utf-8"))
        for new_key, olds in conv.get("DICT_PROVINCE_WARD_NO_DIVIDED", {}).get("thanhphohochiminh", {}).items():
            for old in olds:
                old_to_new.setdefault(old, []).append(new_key)
        for old, news in conv.get("DICT_PROVINCE_WARD_DIVIDED", {}).get("thanhphohochiminh", {}).items():
            old_to_new.setdefault(old, []).extend(n["newWardKey"] for n in news)

    legacy: list[LegacyWard] = []
    districts: dict[str, District] = {}
    for (prov, prov_key, dist, dist_short, dist_type, dist_key, dlat, dlon,
         ward, ward_type, ward_key, wlat, wlon) in leg_rows:
        if dist not in districts and dlat is not None:
            districts[dist] = District(dist, dist_short, dist_type, float(dlat), float(dlon), dist, prov)
        if wlat is None:
            continue
        options = [by_key[k] for k in old_to_new.get(f"{prov_key}_{dist_key}_{ward_key}", []) if k in by_key]
        current = min(options, key=lambda w: _km((w.lat, w.lon), (wlat, wlon))) if options else None
        legacy.append(LegacyWard(ward, ward_type, dist, float(wlat), float(wlon), current))

    for name, (merged, parts) in _MERGED_PARTS.items():  # each gets the centroid of its former wards
        members = [lw for lw in legacy if lw.district == merged and lw.short in parts]
        if members and merged in districts:
            lat = sum(m.lat for m in members) / len(members)
            lon = sum(m.lon for m in members) / len(members)
            kind, short = name.split(" ", 1)
            districts[name] = District(name, short, kind, lat, lon, merged, districts[merged].province, frozenset(parts))
    # the bare name "Thủ Đức" is the old district (Quận Thủ Đức); "thành phố Thủ Đức" the 2021–2025 city
    return Gazetteer(wards, legacy, list(districts.values()), _load_streets(Path(streets_path) if streets_path else STREETS_PATH),
                     _load_landmarks(LANDMARKS_PATH))


# ---- locating -------------------------------------------------------------------------------------------
def _longest_first(matches: list[Match], taken: list[Match] | tuple[()] = ()) -> list[Match]:
    """Keep the longest matches that do not overlap each other nor `taken`; in text order."""
    if not matches or (len(matches) == 1 and not taken):
        return list(matches)
    kept: list[Match] = []
    for m in sorted(matches, key=lambda m: (-(m.char_end - m.char_start), m.start)):
        if not any(m.overlaps(o) for o in kept) and not any(m.overlaps(o) for o in taken):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


_NUMBER_WORDS = {"hem", "so", "ngo", "kiet", "ngach", "nha"}
_fold_name = lru_cache(maxsize=65536)(fold)  # street names recur from post to post

# ---- names the gazetteer does not know: "đường Đặng Nguyên Cẩn", "đường số 19", "hẻm 12 Tô Hiệu" ------------
_WORD_RX = re.compile(r"[^\W_]+(?:[-/][^\W_]+)*|[^\w\s]+")
_STREET_LEAD = {"duong", "pho", "dai lo", "tuyen duong", "hem", "so", "ngo", "kiet", "hxh", "duong so"}
# capitalised words that end a name (compared lowercased, as written: "Đặng" is a name, "đang" is not)
_NAME_STOP = {"phường", "quận", "huyện", "xã", "tỉnh", "khu", "hẻm", "ngã", "tp", "sài", "đoạn",
              "gần", "tại", "ở", "của", "thuộc", "và", "với", "chợ", "cầu", "sáng", "chiều", "tối", "đêm", "trưa",
              "hôm", "ngày", "lúc", "bị", "đã", "đang", "vừa", "nước", "cây", "mất", "để", "ống", "dây", "khi", "do",
              "phuong", "quan", "huyen", "thanh pho", "doan", "tai", "cua", "thuoc", "gan", "luc", "ngay", "bi"}
_CROSS = Caseless(r"(?<![^\W_])(?:ngã tư|ngã ba|ngã năm|ngã sáu|ngã 4|ngã 3|giao lộ|giao điểm|góc đường|góc|"
                  r"giao nhau giữa|giao cắt giữa|nút giao|nga tu|nga ba|nga 4|nga 3|giao lo|goc)\s+(?:đường\s+|duong\s+)?")
# The first words (lowercased tokens) that matches of _CROSS, _OTHER_AREA and _STREET_AFTER start with: a post
# without any of them is not searched (a set test on the tokens is much cheaper than a regex pass over the post),
# and _CROSS and _STREET_AFTER are tried only where one of them starts (see _lead_matches).
_CROSS_FIRST = frozenset({"ngã", "nga", "giao", "góc", "goc", "nút"})
_OTHER_AREA_FIRST = frozenset({"quận", "huyện", "thị", "tỉnh", "thành"})
_STREET_AFTER_FIRST = frozenset({"đường", "duong", "phố", "đại", "tuyến", "hẻm", "hem", "số", "kiệt", "ngõ"})
_CONNECT = re.compile(r"^\s*(?:[-–—/&x×,]|và|va|với|voi|giao với|giao|cắt)\s*(?:đường\s+|duong\s+)?$", re.IGNORECASE)
_CONNECT_NEXT = re.compile(r"\s*(?:[-–—/&x×,]|và|va|với|voi)\s*(?:đường\s+|duong\s+)?", re.IGNORECASE)
_OLD_NUM_WARD = re.compile(r"(?<![^\W_])(?:phường|phuong)\s+(\d{1,2})(?!\d)", re.IGNORECASE)
_OTHER_AREA = re.compile(r"(?<![^\W_])(quận|huyện|thị xã|tỉnh|thành phố)\s+((?:[A-ZĐÀ-Ỹ][^\W\d_]*)(?:\s+[A-ZĐÀ-Ỹ][^\W\d_]*){0,3})")


_DATE_NAME = re.compile(r"\d{1,2}/\d{1,2}")  # streets named after a date: "đường 30/4", "đường 3/2"
_CODE_NAME = re.compile(r"[A-ZĐ]{1,3}\d{1,3}[A-Z]?")  # "D2", "N1", "GS1", "DT743": a code is the whole name
# numbered roads the gazetteer may not list ("Tỉnh lộ 8"); "đường tỉnh 741" is left to it (a scan for every "đường"
# would cost every post)
_ROAD_CODE = Caseless(r"(?<![^\W_])(quốc lộ|tỉnh lộ|hương lộ|quoc lo|tinh lo|huong lo)\s+(\d{1,3}[a-z]?)(?![\w/])")
_ROAD_CODE_FIRST = frozenset({"quốc", "tỉnh", "hương", "quoc", "tinh", "huong"})
_ROAD_KIND = {"quoc": "Quốc lộ", "tinh": "Tỉnh lộ", "huong": "Hương lộ"}


# "anh Lê Văn Thọ", "bà Nguyễn Thị Minh Khai": a person's name written like a street's, after a title
_TITLES = frozenset({"anh", "chị", "ông", "bà", "cô", "chú", "bác", "cháu", "bé", "em", "bạn", "thầy", "cụ", "vợ", "chồng",
                     "tên"})


# "trường Lê Quý Đôn trên đường Võ Văn Tần", "bệnh viện Nguyễn Tri Phương": a school or a hospital named like a street
_INSTITUTIONS = frozenset({"trường", "truong", "thpt", "thcs", "bv"})
_INSTITUTION_PAIRS = frozenset({("benh", "vien"), ("tieu", "hoc"), ("mam", "non"), ("dai", "hoc"), ("trung", "hoc")})


def _after_a_title(doc: Doc, i: int) -> bool:
    return i > 0 and doc.texts[i - 1] in _TITLES


def _after_an_institution(doc: Doc, i: int) -> bool:
    """Is the name at token i a school's or a hospital's? (Often also the street it stands on, so such a name is the
    street only when the post names no other.)"""
    return i > 0 and (doc.texts[i - 1] in _INSTITUTIONS or (i > 1 and (doc.folds[i - 2], doc.folds[i - 1]) in _INSTITUTION_PAIRS))


def _is_name_word(w: str) -> bool:
    return w[:1].isupper() and w[:1].isalpha() and w.lower() not in _NAME_STOP


def _name_after(text: str, pos: int, allow_number_first: bool) -> tuple[int, int, str] | None:
    """A street name written at `pos`: capitalised words, optionally a trailing number ("Hoàng Diệu 2"), or a
    bare number ("đường 19"). (start, end, name) or None."""
    words: list[tuple[int, int, str]] = []
    for m in _WORD_RX.finditer(text, pos):
        if m.start() != pos and text[pos:m.start()].strip():
            break
        w = m.group(0)
        if not words and allow_number_first and (_DATE_NAME.fullmatch(w) or _CODE_NAME.fullmatch(w)):
            return m.start(), m.end(), w  # the code or the date is the whole name: what follows is not part of it
        if _is_name_word(w):
            words.append((m.start(), m.end(), w))
        elif w.isdigit() and (words or allow_number_first) and len(w) <= 3:
            words.append((m.start(), m.end(), w))
            break
        else:
            break
        if len(words) >= 5:
            break
        pos = m.end()
    if not words or (len(words) == 1 and words[0][2].isdigit() and not allow_number_first):
        return None
    return words[0][0], words[-1][1], " ".join(w for _, _, w in words)


_STREET_AFTER = Caseless(r"(?<![^\W_])(?:(đường|duong|phố|đại lộ|tuyến đường)(\s+(?:số|so))?|(?:hẻm|hem|số|kiệt|ngõ)\s+\d+[\w/]*)\s+")


def _lead_matches(rx: Caseless, doc: Doc, first: frozenset[str], odd: bool):
    """rx.finditer(doc.cleaned), for a pattern whose matches begin with a token of `first` (lowercased): tried only
    where such a token starts; with a letter that lowercases oddly (`odd`), everywhere."""
    if odd:
        return rx.finditer(doc.cleaned)
    texts, starts = doc.texts, doc.starts
    at: list[int] = []
    for w in first.intersection(texts):  # a few words, each found by C-level scans of the tokens
        i = -1
        for _ in range(texts.count(w)):
            i = texts.index(w, i + 1)
            at.append(starts[i])
    at.sort()
    return rx.finditer_at(doc.cleaned, at)


def _generic_streets(text: str, leads, taken: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Street names after "đường/phố/đại lộ" or after a house/alley number, that the gazetteer may not know;
    `leads`: the matches of _STREET_AFTER in `text`. A name begins where its lead ends (the lead takes the spaces
    after it): a lead that ends inside a span of `taken` (places matched already, which the name would overlap and
    give way to) is not read."""
    out = []
    for m in leads:
        at = m.end()
        if any(s <= at < e for s, e in taken):
            continue
        lead = (m.group(1) or "").lower()
        got = _name_after(text, m.end(), allow_number_first=bool(lead) and lead != "phố")
        if got:
            a, b, name = got
            if name.isdigit() or _DATE_NAME.fullmatch(name) or _CODE_NAME.fullmatch(name):
                name = f"Đường {'số ' if m.group(2) else ''}{name}"
            elif lead == "đại lộ":
                name = f"Đại lộ {name}"
            out.append((a, b, name))
    return out


class Locator:
    def __init__(self, gazetteer: Gazetteer | None = None):
        self._gazetteer = gazetteer

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = _default_gazetteer()
        return self._gazetteer

    def locate(self, text: str) -> Place:
        g = self.gazetteer
        doc = analyse(text)
        cleaned = doc.cleaned
        if g._index is None:
            g._index = PhraseIndex({"ward": g._ward_phrases, "district": g._district_phrases,
                                    "landmark": g._landmark_phrases, "street": g._street_phrases})
        found = g._index.find_all(doc)
        get = found.get  # (no Python __missing__ call for a set without matches)
        ward_ms = _longest_first(get("ward", []))
        dist_ms = _longest_first(get("district", []), ward_ms)
        land_ms = _longest_first(get("landmark", []))
        street_ms = _longest_first(get("street", []), ward_ms + dist_ms)

        district = g._district_index[dist_ms[0].phrase.label][0] if dist_ms else None
        ward: Ward | None = None
        legacy: LegacyWard | None = None
        ward_text = None
        for m in ward_ms:
            ward, legacy = self._resolve_ward(g._ward_index[m.phrase.label], district)
            if ward or legacy:
                ward_text = m.text
                break
        legacy_name = f"{legacy.name}, {legacy.district}" if legacy else None
        if not (ward or legacy) and district is not None:
            # an old numbered ward that the data no longer lists (merged before July 2025): keep its name
            old = _OLD_NUM_WARD.search(cleaned)
            if old:
                legacy_name = f"Phường {int(old.group(1))}, {district.name}"
                ward_text = old.group(0)

        matched = [t for t in (ward_text, dist_ms[0].text if dist_ms else None) if t]
        ref: tuple[float, float] | None = None
        level: Level = "city"
        if legacy:
            ref, level = (legacy.lat, legacy.lon), "ward"
            ward = legacy.current
        elif ward:
            ref, level = (ward.lat, ward.lon), "ward"
        elif district:
            ref, level = (district.lat, district.lon), "district"

        # streets: the gazetteer's, then names it does not know (kept as names, placed by ward/district)
        mentions: list[tuple[int, int, str, Street | None]] = []
        institutions: list[tuple[int, int, str, Street | None]] = []
        for m in street_ms:
            if not _after_a_title(doc, m.start):
                st = g._street_index[m.phrase.label]
                (institutions if _after_an_institution(doc, m.start) else mentions).append((m.char_start, m.char_end, st.name, st))
        texts = doc.texts
        # re.IGNORECASE takes these for i/s, lower() does not: with one, search everywhere
        odd = "ı" in cleaned or "ſ" in cleaned or "İ" in cleaned
        if odd or not _STREET_AFTER_FIRST.isdisjoint(texts):
            taken = [(m.char_start, m.char_end) for m in street_ms + ward_ms + dist_ms + land_ms]
            generic = _generic_streets(cleaned, _lead_matches(_STREET_AFTER, doc, _STREET_AFTER_FIRST, odd), taken)
        else:
            generic = []
        if not _ROAD_CODE_FIRST.isdisjoint(texts):
            generic = list(generic) + [(m.start(), m.end(), f"{_ROAD_KIND[fold(m.group(1).split()[0]).lower()]} {m.group(2).upper()}")
                                       for m in _ROAD_CODE.finditer(cleaned)]
        for a, b, name in generic:
            # a name running into a ward or district ("Đường D2 Bình Thạnh") ends where that begins
            cut = min((m.char_start for m in ward_ms + dist_ms + land_ms if a < m.char_end and m.char_start < b), default=b)
            if cut < b:
                b = a + len(cleaned[a:cut].rstrip(" ,.-–"))
                if b <= a or cut <= a:
                    continue
                name = cleaned[a:b]
            if not any(a < e and s < b for s, e, _, _ in mentions):
                known = g._street_by_fold.get(_fold_name(name))
                mentions.append((a, b, known.name if known else name, known))
        if not mentions:
            mentions = institutions
        mentions.sort()

        street: Street | None = None
        street_name = None
        street_addr = None
        pos = ref
        precision_override: Precision | None = None
        cross = (self._intersection(cleaned, mentions, _lead_matches(_CROSS, doc, _CROSS_FIRST, odd))
                 if odd or not _CROSS_FIRST.isdisjoint(texts) else None)
        if cross is not None:
            (a_name, a_st), (b_name, b_st), text_span = cross
            matched.insert(0, text_span)
            street, street_name = a_st, a_name
            street_addr = f"giao lộ {a_name} – {b_name}"
            if a_st is not None and b_st is not None:
                pa, pb = min(((p, q) for p in a_st.points for q in b_st.points), key=lambda pq: _km(*pq))
                if _km(pa, pb) <= 2.0 and (ref is None or _km(pa, ref) <= MAX_STREET_KM[level]):
                    pos, level, precision_override = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2), "intersection", "exact"
            cross_name = b_name
        else:
            cross_name = None
        if street_name is None and mentions:
            first_known = next((mm for mm in mentions if mm[3] is not None), None)
            a, b, street_name, street = first_known or mentions[0]
            matched.insert(0, cleaned[a:b])
            street_addr = self._street_address(doc, a, street_name, street)
        if level != "intersection" and street is not None:
            if ref is None:
                pos, level = street.points[0], "street"
            else:
                nearest = min(street.points, key=lambda p: _km(p, ref))
                if _km(nearest, ref) <= self._radius(level, district, ward or legacy):
                    pos, level = nearest, "street"

        landmark = None
        if land_ms and level != "intersection":
            lm = g._landmark_index[land_ms[0].phrase.label]
            if ref is None or _km((lm.lat, lm.lon), ref) <= MAX_STREET_KM.get(level, 6.0):
                landmark = lm
                pos, level = (lm.lat, lm.lon), "landmark"
                matched.append(land_ms[0].text)

        other_area = None
        if district is None and not _OTHER_AREA_FIRST.isdisjoint(texts):
            for area in _OTHER_AREA.finditer(cleaned):
                if fold(area.group(2)) not in ("ho chi minh",):
                    other_area = f"{area.group(1)} {area.group(2)}"
                    break

        if pos is None:
            pos = CITY_CENTRE
        precision = precision_override or _PRECISION[level]
        address = self._address(street_addr or (landmark.name if landmark else None), ward, legacy_name, district)
        return Place(lat=round(pos[0], 6), lon=round(pos[1], 6), ward=ward.name if ward else None,
                     street=street_name, address=address,
                     district=district.name if district else None, precision=precision, level=level,
                     ward_legacy=legacy_name, matched=tuple(matched), landmark=landmark.name if landmark else None,
                     cross_street=cross_name, other_area=other_area)

    @staticmethod
    def _radius(level: str, district: District | None, ward) -> float:
        """How far from the named ward or district a street's point may lie and still be the one meant."""
        if level == "district" and district is not None and district.kind.lower() in ("huyện", "thành phố", "thị xã") \
                and district.name != _THU_DUC_CITY:
            return MAX_STREET_KM_WIDE_DISTRICT
        return MAX_STREET_KM[level]

    @staticmethod
    def _intersection(cleaned: str, mentions, leads):
        """"ngã tư A – B", "giao lộ A và B", "góc A/B", "giao nhau giữa đường A và đường B"; `leads`: the matches
        of _CROSS in `cleaned`."""
        for m in leads:
            first = next((mm for mm in mentions if mm[0] == m.end()), None)
            if first is None:
                got = _name_after(cleaned, m.end(), allow_number_first=False)
                if got is None:
                    continue
                first = (got[0], got[1], got[2], None)
            second = None
            for mm in mentions:
                if mm[0] >= first[1] and _CONNECT.match(cleaned[first[1]:mm[0]]):
                    second = mm
                    break
            if second is None:
                c = _CONNECT_NEXT.match(cleaned, first[1])
                if c:
                    got = _name_after(cleaned, c.end(), allow_number_first=False)
                    if got:
                        second = (got[0], got[1], got[2], None)
            if second is not None:
                return (first[2], first[3]), (second[2], second[3]), cleaned[m.start():second[1]]
        return None

    @staticmethod
    def _resolve_ward(cands: list[Ward | LegacyWard], district: District | None) -> tuple[Ward | None, LegacyWard | None]:
        current = [c for c in cands if isinstance(c, Ward)]
        legacy = [c for c in cands if isinstance(c, LegacyWard)]
        if district:
            in_d = [lw for lw in legacy if lw.district == district.legacy_name
                    and (not district.ward_names or lw.short in district.ward_names)]
            if in_d:
                return None, in_d[0]
        if current:
            return current[0], None
        if len(legacy) == 1:
            return None, legacy[0]
        return None, None  # an old ward name used in several old districts, and no district to tell

    @staticmethod
    def _street_address(doc: Doc, char_start: int, name: str, street: Street | None) -> str:
        """"19 Võ Văn Tần", "hẻm 34 Phan Đăng Lưu", "đường Nguyễn Hữu Cảnh"."""
        folds, starts = doc.folds, doc.starts
        i = bisect_left(starts, char_start)  # the first token at or after the name
        if 0 < i < len(starts) and folds[i - 1] is not None and doc.texts[i - 1][:1].isdigit():
            start = i - 1
            if start > 0 and folds[start - 1] in _NUMBER_WORDS:
                start -= 1
            return f"{doc.cleaned[starts[start]:doc.ends[i - 1]]} {name}"
        return with_road_word(name)

    @staticmethod
    def _address(street_addr: str | None, ward: Ward | None, legacy_name: str | None, district: District | None) -> str:
        parts = [p for p in (street_addr,) if p]
        if ward:
            parts.append(ward.name + (f" ({legacy_name} cũ)" if legacy_name else ""))
        elif legacy_name:
            parts.append(f"{legacy_name} (cũ)")
        elif district:
            parts.append(f"{district.name} (cũ)")
        parts.append("TP.HCM")
        return ", ".join(parts)


@lru_cache(maxsize=1)
def _default_gazetteer() -> Gazetteer:
    return load_gazetteer()


@lru_cache(maxsize=1)
def default_locator() -> Locator:
    return Locator()


def locate(text: str) -> Place:
    """Locate with the shipped gazetteers (loaded once, on first use)."""
    return default_locator().locate(text)
