"""A synthetic, seeded, TACRED-format corpus for demos, tests and smoke runs (TACRED itself is licensed).

It uses every label of `labels.DEMO` (14 TACRED relations, 13 of them person-centric, plus
no_relation). Each relation has several templates whose cue words carry the label, so a small model
can learn it; the hard parts are the ones the paper is about:
  * confusable pairs: per:parents vs per:children share their sentence frames with the roles
    swapped, per:spouse vs per:other_family use parallel frames that differ only in the kinship
    word, and one "X , the CEO of Y" frame is per:employee_of, org:top_members/employees or
    per:title depending on which pair is marked;
  * no_relation sentences, about 40% of them hard negatives whose cue word belongs to an unmarked
    third entity;
  * subjects after objects in several templates, so position alone does not give the roles.
Output is byte-identical for a given seed and sizes; each split has its own random stream, so
changing one split's size leaves the others unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from selfre.data.labels import DEMO
from selfre.errors import ConfigError

DEFAULT_SIZES = {"train": 1200, "dev": 300, "test": 300}
# TACRED is ~80% no_relation; a lower share keeps every relation frequent enough for a small demo model.
NO_RELATION_SHARE = 0.3

FIRST = (
    "Maria",
    "James",
    "Aisha",
    "Chen",
    "Olga",
    "Pedro",
    "Fatima",
    "Liam",
    "Yuki",
    "Noah",
    "Ingrid",
    "Kwame",
    "Sofia",
    "Ahmed",
    "Elena",
    "Rafael",
    "Priya",
    "Tomas",
    "Grace",
    "Dmitri",
    "Amara",
    "Lucas",
    "Hannah",
    "Mateo",
    "Leila",
    "Oscar",
    "Nadia",
    "Samuel",
    "Chloe",
    "Ravi",
    "Isabel",
    "Jonas",
    "Mei",
    "Victor",
    "Zara",
    "Daniel",
    "Rosa",
    "Kenji",
    "Alice",
    "Omar",
    "Clara",
    "Felix",
    "Naomi",
    "Hugo",
    "Julia",
    "Ivan",
)
LAST = (
    "Lopez",
    "Smith",
    "Okafor",
    "Wang",
    "Petrova",
    "Silva",
    "Haddad",
    "Murphy",
    "Tanaka",
    "Fischer",
    "Johansson",
    "Mensah",
    "Rossi",
    "Khan",
    "Novak",
    "Garcia",
    "Sharma",
    "Kowalski",
    "Bennett",
    "Ivanov",
    "Nwosu",
    "Moreau",
    "Cohen",
    "Alvarez",
    "Nasser",
    "Lindqvist",
    "Dubois",
    "Park",
    "Gupta",
    "Schmidt",
    "Kim",
    "Brennan",
    "Costa",
    "Yamamoto",
    "Adeyemi",
    "Walsh",
    "Romero",
    "Hoffman",
    "Sato",
    "Nguyen",
)
ORG_HEADS = (
    "Apex",
    "Bluewater",
    "Cedar",
    "Summit",
    "Harbor",
    "Granite",
    "Silverline",
    "Redwood",
    "Pioneer",
    "Meridian",
    "Keystone",
    "Lakeshore",
    "Orion",
    "Sterling",
    "Vantage",
    "Northwind",
)
ORG_TAILS = (
    "Group",
    "Holdings",
    "Systems",
    "Industries",
    "Labs",
    "Partners",
    "Media",
    "Foods",
    "Energy",
    "Bank",
    "Motors",
    "Pharmaceuticals",
    "Airlines",
    "Capital",
)
SCHOOL_HEADS = (
    "Northfield",
    "Westbrook",
    "Ashford",
    "Lakeview",
    "Riverside",
    "Hillcrest",
    "Fairmont",
    "Kingsley",
    "Brookhaven",
    "Whitmore",
    "Easton",
    "Glenwood",
)
SCHOOL_TAILS = ("University", "College", "Institute of Technology", "State University", "Law School")
CITIES = (
    "Chicago",
    "Boston",
    "Denver",
    "Seattle",
    "New York",
    "San Francisco",
    "Los Angeles",
    "Atlanta",
    "Houston",
    "Phoenix",
    "Miami",
    "Detroit",
    "Portland",
    "Nashville",
    "Austin",
    "Toronto",
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Tokyo",
    "Sydney",
    "Dublin",
    "Lisbon",
    "Vienna",
    "Prague",
    "Warsaw",
    "Cairo",
    "Nairobi",
    "Mumbai",
    "Seoul",
    "Manila",
    "Lima",
    "Buenos Aires",
    "Mexico City",
    "Cape Town",
    "Rio de Janeiro",
)
TOP_TITLES = (
    "chief executive",
    "chairman",
    "president",
    "chief executive officer",
    "managing director",
    "chairwoman",
    "executive director",
)
TITLES = (
    "engineer",
    "lawyer",
    "accountant",
    "spokeswoman",
    "analyst",
    "editor",
    "researcher",
    "architect",
    "consultant",
    "professor",
    "economist",
    "designer",
    "producer",
    "senior engineer",
    "chief economist",
    "software developer",
    "sales manager",
    "general counsel",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Template kind -> TACRED entity type.
ENTITY_TYPES = {
    "per": "PERSON",
    "org": "ORGANIZATION",
    "school": "ORGANIZATION",
    "city": "CITY",
    "date": "DATE",
    "title": "TITLE",
}
# Filler placeholders (unmarked entities and context) -> kind.
FILLERS = {
    "PER": "per",
    "PER2": "per",
    "ORG": "org",
    "SCHOOL": "school",
    "CITY": "city",
    "DATE": "date",
    "TITLE": "job",
    "TOP": "top",
    "YEAR": "year",
    "AGE": "age",
}


class Template(NamedTuple):
    """Space-separated words; {S} / {O} are the marked subject / object, other {X} are FILLERS."""

    text: str
    subj: str
    obj: str


def _group(subj: str, obj: str, *texts: str) -> list[Template]:
    return [Template(t, subj, obj) for t in texts]


_CEO_FRAME = "{X} , the {Y} of {Z} , announced the deal ."  # one sentence, three labels (see module doc)
_CHILD_FRAMES = (
    "{C} , the son of {P} , inherited the estate .",
    "{P} 's daughter , {C} , graduated last spring .",
    "{C} was raised by {P} , his mother , in {CITY} .",
    "{P} gave birth to {C} in {YEAR} .",
    "{C} said his father , {P} , had taught him to sail .",
)


def _frame(text: str, **roles: str) -> str:
    for placeholder, value in roles.items():
        text = text.replace("{" + placeholder + "}", value)
    return text


TEMPLATES: dict[str, list[Template]] = {
    "per:spouse": _group(
        "per",
        "per",
        "{S} and his wife , {O} , arrived in {CITY} on {DATE} .",
        "{S} married {O} in {YEAR} after they met in {CITY} .",
        "{O} , the husband of {S} , declined to comment .",
        "{S} 's widow , {O} , accepted the award on his behalf .",
        "{O} and her husband {S} live on a farm outside {CITY} .",
        "{S} divorced {O} in {YEAR} .",
    ),
    "per:other_family": _group(
        "per",
        "per",
        "{S} and his cousin {O} opened a restaurant in {CITY} .",
        "{O} , an uncle of {S} , said the family was relieved .",
        "{S} 's brother-in-law , {O} , runs the business .",
        "{S} was raised by her grandmother , {O} , in {CITY} .",
        "{O} , the niece of {S} , spoke at the funeral .",
        "{S} and her nephew {O} were seen at the game .",
    ),
    "per:siblings": _group(
        "per",
        "per",
        "{S} and his brother {O} founded a band in {YEAR} .",
        "{S} 's sister , {O} , lives in {CITY} .",
        "{O} , whose younger brother {S} plays for the team , was in the crowd .",
        "{S} and {O} are siblings who grew up in {CITY} .",
        "{O} said her twin sister {S} would attend .",
    ),
    # TACRED: per:parents has the child as subject, per:children the parent. Same frames, roles swapped.
    "per:parents": _group(
        "per",
        "per",
        *(_frame(t, C="{S}", P="{O}") for t in _CHILD_FRAMES),
        "{S} 's parents , {O} and {PER} , moved to {CITY} in {YEAR} .",
    ),
    "per:children": _group(
        "per", "per", *(_frame(t, C="{O}", P="{S}") for t in _CHILD_FRAMES), "{S} has two children , {O} and {PER} ."
    ),
    "per:city_of_birth": _group(
        "per",
        "city",
        "{S} was born in {O} on {DATE} .",
        "{S} , a native of {O} , moved to {CITY} in {YEAR} .",
        "Born in {O} , {S} studied at {SCHOOL} .",
        "{O} native {S} returned home for the premiere .",
        "{S} was born and raised in {O} .",
    ),
    "per:cities_of_residence": _group(
        "per",
        "city",
        "{S} lives in {O} with his family .",
        "{S} , who moved to {O} in {YEAR} , works as a {TITLE} .",
        "{O} resident {S} , {AGE} , was among the winners .",
        "{S} has made her home in {O} since {YEAR} .",
        "{S} grew up in {CITY} but now lives in {O} .",
    ),
    "per:date_of_birth": _group(
        "per",
        "date",
        "{S} was born on {O} in {CITY} .",
        "{S} ( born {O} ) is a {TITLE} from {CITY} .",
        "Born on {O} , {S} grew up in {CITY} .",
        "{S} , whose birthday is {O} , celebrated with friends .",
        "Records show that {S} was born {O} .",
    ),
    "per:schools_attended": _group(
        "per",
        "school",
        "{S} graduated from {O} in {YEAR} .",
        "{S} studied law at {O} before joining {ORG} .",
        "A {O} alumna , {S} now works in {CITY} .",
        "{S} earned a degree in economics from {O} .",
        "{O} graduate {S} was named to the board .",
    ),
    "per:employee_of": _group(
        "per",
        "org",
        _frame(_CEO_FRAME, X="{S}", Y="{TOP}", Z="{O}"),
        "{S} , a {TITLE} at {O} , said the results were strong .",
        "{S} works for {O} in {CITY} .",
        "{O} hired {S} in {YEAR} .",
        "{S} joined {O} as a {TITLE} in {YEAR} .",
        "{O} spokesman {S} declined to comment .",
    ),
    "org:top_members/employees": _group(
        "org",
        "per",
        _frame(_CEO_FRAME, X="{O}", Y="{TOP}", Z="{S}"),
        "{S} named {O} as its new {TOP} on {DATE} .",
        "{S} {TOP} {O} said profits rose .",
        "{O} , who heads {S} , met with investors .",
        "{S} is led by {O} , its {TOP} .",
    ),
    "per:title": _group(
        "per",
        "title",
        _frame(_CEO_FRAME, X="{S}", Y="{O}", Z="{ORG}"),
        "{O} {S} declined to comment .",
        "{S} works as a {O} in {CITY} .",
        "{S} was appointed {O} of {ORG} in {YEAR} .",
        "{S} , {AGE} , a former {O} , lives in {CITY} .",
    ),
    "org:founded_by": _group(
        "org",
        "per",
        "{S} was founded by {O} in {YEAR} .",
        "{O} founded {S} in {CITY} in {YEAR} .",
        "{O} , who started {S} in a garage , retired last year .",
        "{S} co-founder {O} spoke at the conference .",
        "{O} established {S} after leaving {ORG} .",
    ),
    "org:city_of_headquarters": _group(
        "org",
        "city",
        "{S} , based in {O} , reported higher earnings .",
        "{S} is headquartered in {O} .",
        "{O} - based {S} announced layoffs on {DATE} .",
        "{S} moved its headquarters to {O} in {YEAR} .",
        "At its headquarters in {O} , {S} unveiled a new product .",
    ),
    # Plain co-occurrence, and hard negatives whose cue word belongs to an unmarked third entity.
    "no_relation": [
        *_group(
            "per",
            "per",
            "{S} met {O} at a conference in {CITY} .",
            "{S} criticized {O} during the debate on {DATE} .",
            "{O} and {S} both attended the meeting in {CITY} .",
            "{S} defeated {O} in the final .",
            "{S} interviewed {O} about the wedding of {PER} and {PER2} .",
            "{S} , the son of {PER} , sued {O} .",
            "{O} 's cousin {PER} testified against {S} .",
        ),
        *_group(
            "per",
            "org",
            "{S} criticized {O} on Monday .",
            "{O} declined to comment on the remarks by {S} .",
            "{S} bought shares of {O} in {YEAR} .",
            "{S} met {PER} , the {TOP} of {O} , in {CITY} .",
            "{S} praised {O} , which was founded by {PER} .",
        ),
        *_group(
            "org",
            "per",
            "{S} sued {O} over unpaid fees .",
            "{O} wrote a critical review of {S} .",
            "{S} , whose {TOP} is {PER} , sponsored a concert by {O} .",
        ),
        *_group(
            "per",
            "city",
            "{S} visited {O} last week .",
            "{S} gave a speech in {O} on {DATE} .",
            "{S} flew to {O} , where {PER} was born .",
            "{S} , who lives in {CITY} , toured {O} .",
        ),
        *_group(
            "per",
            "date",
            "{S} spoke to reporters on {O} .",
            "{S} arrived in {CITY} on {O} .",
            "{S} attended the funeral of {PER} , who was born on {O} .",
        ),
        *_group(
            "org",
            "city",
            "{S} opened a new store in {O} .",
            "{S} sponsored a festival in {O} on {DATE} .",
            "{S} competes with {ORG} , which is based in {O} .",
        ),
        *_group(
            "per", "school", "{S} gave a lecture at {O} on {DATE} .", "{S} donated money to {O} , where {PER} studied ."
        ),
        *_group("per", "title", "{S} said the {O} should resign .", "{S} met the {O} of {ORG} , {PER} , on {DATE} ."),
    ],
}


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _date(rng: random.Random) -> str:
    # Full dates only: the templates say "born on {O}", which reads wrong with a bare year.
    year, month, day = rng.randint(1930, 1999), rng.choice(MONTHS), rng.randint(1, 28)
    return rng.choice((f"{month} {day} , {year}", f"{day} {month} {year}"))


_SAMPLERS = {
    "per": _person,
    "org": lambda rng: f"{rng.choice(ORG_HEADS)} {rng.choice(ORG_TAILS)}",
    "school": lambda rng: f"{rng.choice(SCHOOL_HEADS)} {rng.choice(SCHOOL_TAILS)}",
    "city": lambda rng: rng.choice(CITIES),
    "date": _date,
    "title": lambda rng: rng.choice(TITLES + TOP_TITLES),
    "job": lambda rng: rng.choice(TITLES),
    "top": lambda rng: rng.choice(TOP_TITLES),
    "year": lambda rng: str(rng.randint(1950, 2015)),
    "age": lambda rng: str(rng.randint(25, 90)),
}


def fill(template: Template, rng: random.Random) -> tuple[list[str], tuple[int, int], tuple[int, int]]:
    """Tokens of one sentence and the inclusive word spans of {S} and {O}."""
    tokens: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    used: set[str] = set()
    for word in template.text.split():
        if not (word.startswith("{") and word.endswith("}")):
            tokens.append(word)
            continue
        key = word[1:-1]
        kind = {"S": template.subj, "O": template.obj}.get(key) or FILLERS[key]
        value = _SAMPLERS[kind](rng)
        while value in used:  # two different people (cities, ...) in one sentence must not share a name
            value = _SAMPLERS[kind](rng)
        used.add(value)
        start = len(tokens)
        tokens.extend(value.split())
        if key in ("S", "O"):
            spans[key] = (start, len(tokens) - 1)
    # Fillers make "a engineer"; fix the article without changing the token count (spans stay valid).
    for i in range(len(tokens) - 1):
        if tokens[i].lower() == "a" and tokens[i + 1][0].lower() in "aeiou":
            tokens[i] += "n"
    return tokens, spans["S"], spans["O"]


def _label_schedule(n: int, rng: random.Random) -> list[str]:
    # Deterministic proportions (not i.i.d. draws) so even a 30-example split holds every label.
    relations = [lab for lab in DEMO.labels if lab != DEMO.no_relation]
    n_none = round(n * NO_RELATION_SHARE)
    labels = [DEMO.no_relation] * n_none + [relations[i % len(relations)] for i in range(n - n_none)]
    rng.shuffle(labels)
    return labels


def make_split(split: str, n: int, seed: int) -> list[dict]:
    """`n` TACRED-format records; the stream depends only on (seed, split)."""
    rng = random.Random(f"selfre-demo/{seed}/{split}")  # str seeds hash with SHA-512: stable across runs
    records = []
    for i, label in enumerate(_label_schedule(n, rng)):
        template = rng.choice(TEMPLATES[label])
        tokens, (ss, se), (os_, oe) = fill(template, rng)
        records.append(
            {
                "id": hashlib.sha1(f"demo/{seed}/{split}/{i}".encode()).hexdigest()[:20],  # TACRED-like hex ids
                "relation": label,
                "token": tokens,
                "subj_start": ss,
                "subj_end": se,
                "obj_start": os_,
                "obj_end": oe,
                "subj_type": ENTITY_TYPES[template.subj],
                "obj_type": ENTITY_TYPES[template.obj],
            }
        )
    return records


def _write_atomic(path: Path, records: Sequence[dict]) -> None:
    # One record per line keeps the file diffable; a temp file + rename means a concurrent reader
    # (parallel search trials generating the same demo folder) never sees a half-written file.
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def generate_demo(
    out_dir: str | Path,
    seed: int = 13,
    n_train: int = DEFAULT_SIZES["train"],
    n_dev: int = DEFAULT_SIZES["dev"],
    n_test: int = DEFAULT_SIZES["test"],
) -> dict[str, Path]:
    """Write `{out_dir}/{train,dev,test}.json`; return the paths by split."""
    sizes = {"train": n_train, "dev": n_dev, "test": n_test}
    for split, n in sizes.items():
        if n < 1:
            raise ConfigError(f"demo {split} size must be >= 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    # train.json last: its presence is what marks a demo folder complete (see datasets.load_splits).
    for split in ("test", "dev", "train"):
        paths[split] = out / f"{split}.json"
        _write_atomic(paths[split], make_split(split, sizes[split], seed))
    return {split: paths[split] for split in sizes}
