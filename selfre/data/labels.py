"""Canonical label sets and the person-centric taxonomy (docs/method.md §7, paper Table 10).

A label set fixes the class order of a model: index i of the logits is `labels[i]`. The order is the
canonical one below (no-relation first, then sorted), never the order labels happen to appear in a
file, so two runs on the same dataset always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selfre.errors import DataError

TACRED_RELATIONS = (
    "org:alternate_names",
    "org:city_of_headquarters",
    "org:country_of_headquarters",
    "org:dissolved",
    "org:founded",
    "org:founded_by",
    "org:member_of",
    "org:members",
    "org:number_of_employees/members",
    "org:parents",
    "org:political/religious_affiliation",
    "org:shareholders",
    "org:stateorprovince_of_headquarters",
    "org:subsidiaries",
    "org:top_members/employees",
    "org:website",
    "per:age",
    "per:alternate_names",
    "per:cause_of_death",
    "per:charges",
    "per:children",
    "per:cities_of_residence",
    "per:city_of_birth",
    "per:city_of_death",
    "per:countries_of_residence",
    "per:country_of_birth",
    "per:country_of_death",
    "per:date_of_birth",
    "per:date_of_death",
    "per:employee_of",
    "per:origin",
    "per:other_family",
    "per:parents",
    "per:religion",
    "per:schools_attended",
    "per:siblings",
    "per:spouse",
    "per:stateorprovince_of_birth",
    "per:stateorprovince_of_death",
    "per:stateorprovinces_of_residence",
    "per:title",
)

# Re-TACRED (Stoica et al. 2021): per:alternate_names -> per:identity, org:*_of_headquarters ->
# org:*_of_branch, org:parents and org:subsidiaries removed. 39 relations + no_relation = 40.
RETACRED_RELATIONS = (
    "org:alternate_names",
    "org:city_of_branch",
    "org:country_of_branch",
    "org:dissolved",
    "org:founded",
    "org:founded_by",
    "org:member_of",
    "org:members",
    "org:number_of_employees/members",
    "org:political/religious_affiliation",
    "org:shareholders",
    "org:stateorprovince_of_branch",
    "org:top_members/employees",
    "org:website",
    "per:age",
    "per:cause_of_death",
    "per:charges",
    "per:children",
    "per:cities_of_residence",
    "per:city_of_birth",
    "per:city_of_death",
    "per:countries_of_residence",
    "per:country_of_birth",
    "per:country_of_death",
    "per:date_of_birth",
    "per:date_of_death",
    "per:employee_of",
    "per:identity",
    "per:origin",
    "per:other_family",
    "per:parents",
    "per:religion",
    "per:schools_attended",
    "per:siblings",
    "per:spouse",
    "per:stateorprovince_of_birth",
    "per:stateorprovince_of_death",
    "per:stateorprovinces_of_residence",
    "per:title",
)

SEMEVAL_RELATION_TYPES = (
    "Cause-Effect",
    "Component-Whole",
    "Content-Container",
    "Entity-Destination",
    "Entity-Origin",
    "Instrument-Agency",
    "Member-Collection",
    "Message-Topic",
    "Product-Producer",
)
SEMEVAL_RELATIONS = tuple(f"{rel}({a},{b})" for rel in SEMEVAL_RELATION_TYPES for a, b in (("e1", "e2"), ("e2", "e1")))

# The synthetic demo corpus (selfre.data.demo) uses a TACRED-named subset, so every metric and the
# person-centric taxonomy behave exactly as on TACRED.
DEMO_RELATIONS = (
    "org:city_of_headquarters",
    "org:founded_by",
    "org:top_members/employees",
    "per:children",
    "per:cities_of_residence",
    "per:city_of_birth",
    "per:date_of_birth",
    "per:employee_of",
    "per:other_family",
    "per:parents",
    "per:schools_attended",
    "per:siblings",
    "per:spouse",
    "per:title",
)

# Paper Table 10: every per:* label plus these three org:* labels whose argument is a person.
PERSON_CENTRIC_ORG = frozenset({"org:top_members/employees", "org:shareholders", "org:founded_by"})

PERSON_TYPE = "PERSON"


def tacred_person_centric(labels) -> frozenset[str]:
    return frozenset(lab for lab in labels if lab.startswith("per:") or lab in PERSON_CENTRIC_ORG)


@dataclass(frozen=True)
class LabelSet:
    """An ordered label inventory that knows its no-relation label and its person-centric subset.

    `person_centric_is_all` marks datasets without person types (SemEval): there the paper's Table 6
    reports person-centric figures over all categories, and outputs must say so.
    """

    name: str
    labels: tuple[str, ...]
    no_relation: str
    person_centric: frozenset[str] = field(default_factory=frozenset)
    person_centric_is_all: bool = False

    def __post_init__(self):
        if self.no_relation not in self.labels:
            raise ValueError(f"label set {self.name}: no-relation label {self.no_relation!r} missing")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"label set {self.name}: duplicate labels")

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: str) -> bool:
        return label in self._index

    @property
    def _index(self) -> dict[str, int]:
        # Cached on first use; frozen dataclasses need object.__setattr__ for that.
        cache = self.__dict__.get("_index_cache")
        if cache is None:
            cache = {lab: i for i, lab in enumerate(self.labels)}
            object.__setattr__(self, "_index_cache", cache)
        return cache

    def index(self, label: str) -> int:
        try:
            return self._index[label]
        except KeyError:
            raise KeyError(f"unknown label {label!r} for label set {self.name}") from None

    def check(self, label: str, path, index: int, record_id: str | None) -> None:
        """Raise a `DataError` naming the record if `label` is not in this set."""
        if label not in self._index:
            raise DataError(path, f"unknown label {label!r} (not in the {self.name} label set)", index, record_id)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "labels": list(self.labels),
            "no_relation": self.no_relation,
            "person_centric": sorted(self.person_centric),
            "person_centric_is_all": self.person_centric_is_all,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LabelSet:
        return cls(
            name=d["name"],
            labels=tuple(d["labels"]),
            no_relation=d["no_relation"],
            person_centric=frozenset(d.get("person_centric", ())),
            person_centric_is_all=bool(d.get("person_centric_is_all", False)),
        )


def _with_no_relation(no_relation: str, relations) -> tuple[str, ...]:
    return (no_relation, *sorted(relations))


TACRED = LabelSet(
    "tacred", _with_no_relation("no_relation", TACRED_RELATIONS), "no_relation", tacred_person_centric(TACRED_RELATIONS)
)
RETACRED = LabelSet(
    "retacred",
    _with_no_relation("no_relation", RETACRED_RELATIONS),
    "no_relation",
    tacred_person_centric(RETACRED_RELATIONS),
)
SEMEVAL = LabelSet(
    "semeval",
    _with_no_relation("Other", SEMEVAL_RELATIONS),
    "Other",
    frozenset(SEMEVAL_RELATIONS),
    person_centric_is_all=True,
)
DEMO = LabelSet(
    "demo", _with_no_relation("no_relation", DEMO_RELATIONS), "no_relation", tacred_person_centric(DEMO_RELATIONS)
)

CANONICAL = {ls.name: ls for ls in (TACRED, RETACRED, SEMEVAL, DEMO)}


def label_set_from_training_labels(name: str, labels, no_relation: str) -> LabelSet:
    """Label set for a dataset with no canonical inventory (JSON lines): the training split's labels.

    Person-centric = TACRED's rule when labels are TACRED-style (`per:*`), else all relations, flagged.
    """
    relations = sorted(set(labels) - {no_relation})
    pc = tacred_person_centric(relations)
    return LabelSet(name, (no_relation, *relations), no_relation, pc or frozenset(relations), not pc)
