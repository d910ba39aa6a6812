"""The shape of social/lexicon.yaml, checked with pydantic when the lexicon loads (social.classify.load_lexicon).

(A module of its own: the classifier's hot path is compiled with mypyc, which does not compile pydantic models.)
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Scoring", "CategoryLexicon", "ContextGroup", "LexiconFile"]


# ---- lexicon.yaml ------------------------------------------------------------------------------------------
class _Conf(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scoring(_Conf):
    bias: float = -1.5
    cue_cap: float = Field(3.0, gt=0)
    report_cap: float = Field(3.0, ge=0)
    context_floor: float = Field(-6.0, le=0)
    date_marker: float = 1.0
    other_place: float = -5.0
    other_place_with_hcmc: float = -0.5
    question_without_report: float = -2.0
    past_year: float = -4.0
    ask_about_cue: float = -4.0  # asking whom to report, in the clause that names the incident (see classify)
    precedence: list[tuple[str, str]] = Field(default_factory=list)


class CategoryLexicon(_Conf):
    strong: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    weak: list[str] = Field(default_factory=list)
    not_: list[str] = Field(default_factory=list, alias="not")


class ContextGroup(_Conf):
    kind: str = Field(pattern=r"^[a-z_]+$")
    weight: float
    phrases: list[str] = Field(min_length=1)


class LexiconFile(_Conf):
    version: str = Field(min_length=1)
    scoring: Scoring = Field(default_factory=Scoring)
    categories: dict[str, CategoryLexicon] = Field(min_length=1)
    masks: list[str] = Field(default_factory=list)
    name_parts: list[str] = Field(default_factory=list)
    context: list[ContextGroup] = Field(default_factory=list)
    other_places: list[str] = Field(default_factory=list)
    hcmc_markers: list[str] = Field(default_factory=list)
