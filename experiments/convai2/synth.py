"""A synthetic ConvAI2-shaped corpus whose persona facts determine the correct reply.

Each persona holds one value for each of a few *slots* (favourite colour, pet, city, ...).
In a dialogue the partner asks about the persona's slots; the gold reply states the
persona's value. The other candidates are the same reply with other values of that slot
(hard distractors) and replies about other slots (easy distractors), so

* a model that only matches question and reply types is right about
  ``1 / (1 + same_slot_distractors)`` of the time (10% with the defaults; chance is 5%),
* a model that also knows the persona's values (learnt per task, since the persona text is
  not shown by default) can be right every time.

This is the structure that separates the methods: the reply *type* is shared across tasks,
the *values* are task-specific and must be learnt from a few fine-tuning dialogues.
Files are written in the ParlAI text format (and optionally PersonaChat JSON), with the gold
reply placed last like the released files (the runner never exploits the position).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from landscape.validation import as_rng, check_int
from landscape.errors import InvalidArgument
from landscape.runs import check_output_dir, jsonable

from .data import Dialogue, Example, write_parlai, write_personachat_json

__all__ = ["SLOTS", "SynthResult", "synth_dialogues", "write_synth"]

#: (slot, questions, reply/persona template, values)
SLOTS: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    (
        "color",
        ("what is your favorite color ?", "which color do you like ?"),
        "my favorite color is {} .",
        ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "grey"),
    ),
    (
        "pet",
        ("do you have a pet ?", "what pet do you own ?"),
        "my pet is a {} .",
        (
            "dog",
            "cat",
            "parrot",
            "hamster",
            "rabbit",
            "turtle",
            "snake",
            "horse",
            "goldfish",
            "lizard",
        ),
    ),
    (
        "food",
        ("what food do you like ?", "what is your favorite food ?"),
        "my favorite food is {} .",
        (
            "pizza",
            "sushi",
            "tacos",
            "pasta",
            "salad",
            "curry",
            "burgers",
            "noodles",
            "soup",
            "steak",
        ),
    ),
    (
        "sport",
        ("what sport do you play ?", "do you play a sport ?"),
        "the sport i play is {} .",
        (
            "tennis",
            "soccer",
            "golf",
            "hockey",
            "chess",
            "baseball",
            "rugby",
            "cricket",
            "volleyball",
            "basketball",
        ),
    ),
    (
        "city",
        ("what city do you live in ?", "which city are you from ?"),
        "my city is {} .",
        (
            "paris",
            "tokyo",
            "boston",
            "cairo",
            "lima",
            "oslo",
            "denver",
            "sydney",
            "dublin",
            "madrid",
        ),
    ),
    (
        "job",
        ("what is your job ?", "what job do you have ?"),
        "my job is {} .",
        (
            "nurse",
            "teacher",
            "pilot",
            "chef",
            "farmer",
            "lawyer",
            "plumber",
            "writer",
            "dentist",
            "baker",
        ),
    ),
    (
        "music",
        ("what music do you like ?", "which music do you listen to ?"),
        "my music is {} .",
        ("jazz", "rock", "pop", "blues", "metal", "folk", "opera", "disco", "techno", "reggae"),
    ),
)
"""(slot, questions, reply template, values): a question and its reply share the slot word."""

_OPENERS = ("hi !", "hello there .", "hey , nice to meet you .", "good evening .")
_FILLERS = ("cool .", "that is nice .", "interesting .", "oh really ?", "i see .")


@dataclass(frozen=True)
class SynthResult:
    """Files written by :func:`write_synth` and the corpus sizes."""

    out_dir: str
    files: tuple[str, ...]
    seed: int
    n_personas: dict
    n_dialogues: dict
    n_examples: dict

    def to_json(self) -> dict:
        """Plain JSON values (the project's result protocol: a dict, not text)."""
        return jsonable(asdict(self))


def _check_sizes(n_candidates, same_slot_distractors, slots_per_persona, turns, n_values):
    # messages name the CLI flags (``metalora convai2 synth``), the main caller
    n_candidates = check_int("--candidates", n_candidates, low=2)
    n_values = check_int("--values", n_values, low=2, high=min(len(s[3]) for s in SLOTS))
    if same_slot_distractors is None:
        same_slot_distractors = min(n_values - 1, n_candidates - 1)
    same = check_int("--same-slot", same_slot_distractors, low=0, high=n_values - 1)
    if same + 1 > n_candidates:
        raise InvalidArgument(
            f"`--same-slot` must be < --candidates={n_candidates}; got --same-slot={same}."
        )
    if (len(SLOTS) - 1) * n_values < n_candidates - 1 - same:
        raise InvalidArgument(
            f"`--values`={n_values} is too small: the other slots offer {(len(SLOTS) - 1) * n_values} replies "
            f"but {n_candidates - 1 - same} other-slot distractors are needed for --candidates={n_candidates}."
        )
    k = check_int("--slots", slots_per_persona, low=1, high=len(SLOTS))
    turns = check_int("--turns", turns, low=1, high=k)
    return n_candidates, same, k, turns, n_values


def synth_dialogues(
    n_personas: int,
    dialogues_per_persona: tuple[int, int] = (3, 8),
    *,
    turns: int = 4,
    slots_per_persona: int = 5,
    n_candidates: int = 20,
    same_slot_distractors: int | None = None,
    n_values: int = 10,
    seed=0,
    personas_flag: str = "n_personas",
) -> tuple[Dialogue, ...]:
    """Dialogues of ``n_personas`` random personas (dialogues of one persona are contiguous
    blocks interleaved with other personas' blocks at random).

    Parameters
    ----------
    n_personas : int
    dialogues_per_persona : (int, int)
        Inclusive range for the number of dialogues of each persona.
    turns : int
        Replies per dialogue (each about a different slot of the persona).
    slots_per_persona : int
        How many of the 7 slots each persona has a value for.
    n_candidates : int
        Candidates per example (20 in ConvAI2), gold last.
    same_slot_distractors : int, optional
        Candidates that answer the same question with another value (default: all other
        values, so that every value of the slot is a candidate and its frequency as the gold
        reply tells nothing without the persona).
    n_values : int
        Values per slot (at most 10). Persona values are balanced: each value of a slot
        belongs to about as many personas as any other.
    seed : None, int or numpy Generator
    personas_flag : str
        How error messages name ``n_personas`` (the CLI passes its flag).
    """
    n_personas = check_int(personas_flag, n_personas, low=1)
    if not isinstance(dialogues_per_persona, (tuple, list)) or len(dialogues_per_persona) != 2:
        raise InvalidArgument(f"`--dialogues` must be two integers LOW HIGH; got {dialogues_per_persona!r}.")
    lo, hi = (check_int("--dialogues", v, low=1) for v in dialogues_per_persona)
    if hi < lo:
        raise InvalidArgument(
            f"`--dialogues` must be LOW HIGH with LOW <= HIGH; got {lo} {hi}."
        )
    n_candidates, same, k, turns, n_values = _check_sizes(
        n_candidates, same_slot_distractors, slots_per_persona, turns, n_values
    )
    from math import comb

    if n_personas > comb(len(SLOTS), k) * n_values**k:
        raise InvalidArgument(
            f"`{personas_flag}`={n_personas} exceeds the {comb(len(SLOTS), k) * n_values**k} distinct personas."
        )
    rng = as_rng(seed)
    decks: list[list[int]] = [[] for _ in SLOTS]

    def draw(s: int) -> int:
        # balanced: each slot deals its values from a shuffled deck, refilled when empty
        if not decks[s]:
            decks[s] = rng.permutation(n_values).tolist()
        return decks[s].pop()

    personas = []
    seen = set()
    while len(personas) < n_personas:
        slots = tuple(sorted(rng.choice(len(SLOTS), size=k, replace=False).tolist()))
        values = tuple(draw(s) for s in slots)
        if (slots, values) not in seen:
            seen.add((slots, values))
            personas.append(dict(zip(slots, values)))
    counts = rng.integers(lo, hi + 1, size=n_personas)
    order = np.repeat(np.arange(n_personas), counts)
    rng.shuffle(order)
    out = []
    for p in order.tolist():
        persona = personas[p]
        facts = tuple(SLOTS[s][2].format(SLOTS[s][3][v]) for s, v in persona.items())
        asked = rng.choice(list(persona), size=turns, replace=False).tolist()
        history: list[str] = []
        examples = []
        for t, slot in enumerate(asked):
            name, questions, template, values = SLOTS[slot]
            q = questions[int(rng.integers(len(questions)))]
            opener = (
                _OPENERS[int(rng.integers(len(_OPENERS)))]
                if t == 0
                else _FILLERS[int(rng.integers(len(_FILLERS)))]
            )
            message = f"{opener} {q}"
            gold = template.format(values[persona[slot]])
            others = [v for v in range(n_values) if v != persona[slot]]
            hard = [
                template.format(values[v])
                for v in rng.choice(others, size=same, replace=False).tolist()
            ]
            easy: list[str] = []
            taken = {gold, *hard}
            while len(easy) < n_candidates - 1 - same:
                s2 = int(rng.integers(len(SLOTS)))
                if s2 == slot:
                    continue
                c = SLOTS[s2][2].format(SLOTS[s2][3][int(rng.integers(n_values))])
                if c not in taken:
                    taken.add(c)
                    easy.append(c)
            distractors = hard + easy
            rng.shuffle(distractors)
            history.append(message)
            examples.append(Example(tuple(history), tuple(distractors) + (gold,), n_candidates - 1))
            history.append(gold)
        out.append(Dialogue(persona=facts, examples=tuple(examples)))
    return tuple(out)


def write_synth(
    out_dir,
    *,
    seed: int = 0,
    train_personas: int = 24,
    valid_personas: int = 14,
    dialogues_per_persona: tuple[int, int] = (3, 8),
    turns: int = 4,
    slots_per_persona: int = 5,
    n_candidates: int = 20,
    same_slot_distractors: int | None = None,
    n_values: int = 10,
    json_too: bool = False,
) -> SynthResult:
    """Write a synthetic corpus to ``out_dir``: ``train_self_original.txt``,
    ``valid_self_original.txt`` (ParlAI text) and, with ``json_too``,
    ``personachat_self_original.json``. Same seed, same files.
    """
    seed = check_int("--seed", seed, low=0)
    for flag, n in (("--train-personas", train_personas), ("--valid-personas", valid_personas)):
        check_int(flag, n, low=1)
    _check_sizes(n_candidates, same_slot_distractors, slots_per_persona, turns, n_values)
    out = check_output_dir(out_dir, arg="--out")  # an existing file is an input error, before any work
    rng = np.random.default_rng(seed)
    kw = dict(
        dialogues_per_persona=dialogues_per_persona,
        turns=turns,
        slots_per_persona=slots_per_persona,
        n_candidates=n_candidates,
        same_slot_distractors=same_slot_distractors,
        n_values=n_values,
    )
    splits = {
        "train": synth_dialogues(train_personas, seed=rng, personas_flag="--train-personas", **kw),
        "valid": synth_dialogues(valid_personas, seed=rng, personas_flag="--valid-personas", **kw),
    }
    files = [write_parlai(splits[s], out / f"{s}_self_original.txt") for s in splits]
    if json_too:
        files.append(write_personachat_json(splits, out / "personachat_self_original.json"))
    return SynthResult(
        out_dir=str(out),
        files=tuple(str(f) for f in files),
        seed=seed,
        n_personas={"train": train_personas, "valid": valid_personas},
        n_dialogues={s: len(v) for s, v in splits.items()},
        n_examples={s: sum(len(d.examples) for d in v) for s, v in splits.items()},
    )
