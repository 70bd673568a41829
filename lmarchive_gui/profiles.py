"""The models in plain words: what each profile is for and how fast it runs, for Settings and the entry table.

People choose a profile; an archive records the concrete model it was coded with (``cmx``,
``cmx+lmb-s1``...).  Those ids appear only in Settings' advanced part and in tooltips.  The speeds
are docs/BENCHMARKS.md's measurements of whole archives on a 2-core PC ("Speed and memory", "The
``lm`` profile"), rounded: an estimate, not a promise.
"""

from __future__ import annotations

from lmarchive.models.registry import BUILTIN_LM, BUILTIN_TOKEN_LM, MIX_PREFIX, PRETRAINED_LM, PROFILES, resolve

PROFILE_NAMES = {"fast": "Fast", "default": "Default", "lm": "LM only", "max": "Max"}
"""Short names, for the Model column."""
PROFILE_LABELS = {
    "fast": "Fast — no language model, about 500 kB/s",
    "default": "Default — smallest archives, about 30 kB/s (recommended)",
    "lm": "LM only — slow and experimental, about 6 kB/s",
    "max": "Max — smallest text archives, pretrained LM, very slow (under 1 kB/s)",
}
PROFILE_NOTES = {
    "fast": "Adaptive context models, mixed. About 500 kB/s to compress and 1 MB/s to extract on a 2-core PC.",
    "default": "The built-in language model mixed with the adaptive models: smaller than Fast on every file, "
    "most on small text files. About 30 kB/s each way on a 2-core PC, so 1 MB takes half a minute.",
    "lm": "The built-in token language model alone: about 6 kB/s to compress and 13 kB/s to extract, and "
    "usually larger than Default. For experiments.",
    "max": "The pretrained SmolLM2-135M language model: text about 40% smaller than Default (alice29.txt: "
    "1.19 bits per byte), but well under 1 kB/s each way on a 2-core PC, so 100 kB takes minutes; data it "
    "codes worse keeps Default's coding. For text worth the wait.",
}
NO_LM_NOTE = "The built-in language model is not installed, so Default gives the same archives as Fast."
_MODEL_NOTES = {
    "cm2": "a simple context model (orders 0-2): quick to load, weaker; for tests",
    "cmx": "the adaptive context models, mixed",
}


def profile_label(profile: str) -> str:
    return PROFILE_LABELS.get(profile, profile)


def profile_note(profile: str) -> str:
    """What a profile does; for Default, also when it falls back to Fast (a trimmed installation)."""
    note = PROFILE_NOTES.get(profile, PROFILES.get(profile, ""))
    if profile == "default" and resolve("default") == resolve("fast"):
        note = f"{note} {NO_LM_NOTE}"
    return note


def model_names() -> dict[str, str]:
    """Concrete model id -> the profile's short name, as this installation resolves the profiles.

    The shipped models keep their names when the profiles are pointed elsewhere, so an archive
    made with the shipped Default still says Default.  Looked up once per caller, not per cell:
    resolving lists the model folders.
    """
    names: dict[str, str] = {}
    for profile, name in PROFILE_NAMES.items():
        names.setdefault(resolve(profile), name)  # without the LM, Default is cmx: it stays "Fast"
    shipped = {"cmx": "Fast", MIX_PREFIX + BUILTIN_LM: "Default", BUILTIN_TOKEN_LM: "LM only", PRETRAINED_LM: "Max"}
    for model, name in shipped.items():
        names.setdefault(model, name)
    return names


def model_note(model: str) -> str:
    """A concrete model in a few words, saying which profile uses it here."""
    if model in _MODEL_NOTES:
        note = _MODEL_NOTES[model]
    elif model == PRETRAINED_LM:
        note = "the pretrained SmolLM2-135M language model, with Default where it codes smaller"
    elif model.startswith(MIX_PREFIX):
        note = f"the language model {model.removeprefix(MIX_PREFIX)} mixed with the adaptive models"
    else:
        note = "a language model alone"
    users = [PROFILE_NAMES[p] for p in PROFILE_NAMES if resolve(p) == model]
    if not users:
        return note
    return f"{note} (the {' and '.join(users)} profile{'s' if len(users) > 1 else ''})"


def model_label(model: str) -> str:
    """'cmx — the adaptive context models, mixed (the Fast profile)', for the advanced model list."""
    return f"{model} — {model_note(model)}"
