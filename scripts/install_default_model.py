"""Install a trained bundle as one of voxemo's bundled models, with a model card generated from it.

    voxemo train --config recipes/default.yaml          # writes runs/default/ (+ heldout.json)
    python scripts/install_default_model.py runs/default
    python scripts/install_default_model.py runs/fast --name fast          # recipes/fast.yaml
    python scripts/install_default_model.py runs/accurate --name accurate  # recipes/accurate.yaml

Copies ``model.safetensors``, ``config.json`` and ``heldout.json`` from the run folder into
``src/voxemo/pretrained/<name>/`` and writes ``MODEL_CARD.md`` there. ``--name`` (``default``,
``fast`` or ``accurate``) picks the destination, the recipe the run is compared with
(``recipes/<name>.yaml``) and the role the card describes. Every fact in the card comes from
those files, from the recipe, or from the corpus table in ``docs/corpora.md`` (language,
licence, notes on the shared copy); nothing about the model is typed by hand. For a model on
frames of a frozen backbone (``input_kind`` ``frames``, e.g. a Whisper-encoder head) the card
records the backbone, the SHA-256 its weights must have, and the extra it needs.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "src" / "voxemo" / "pretrained"
DEFAULT_RUN = REPO / "runs" / "default"
DEFAULT_DEST = PRETRAINED / "default"
DEFAULT_RECIPE = REPO / "recipes" / "default.yaml"
CORPUS_DOCS = REPO / "docs" / "corpora.md"
WEIGHTS, CONFIG, HELDOUT, CARD = "model.safetensors", "config.json", "heldout.json", "MODEL_CARD.md"
BUNDLE_FILES = (WEIGHTS, CONFIG, HELDOUT)
#: A bundled model ships inside the wheel: refuse anything that would bloat it.
MAX_WEIGHTS_MB = 10.0
#: Licence words that make a model trained on the corpus non-commercial.
RESTRICTIVE_TERMS = ("nc", "non-commercial", "research")


class InstallError(Exception):
    """Something the user can fix: a missing file, a bundle too big, an unreadable table."""


@dataclass(frozen=True)
class ModelRole:
    """What a bundled name is for: the card's title and the sentence on when to choose it."""

    title: str
    purpose: str


#: The bundled names (``voxemo.inference.bundles.BUNDLED_NAMES``) and what each is for.
ROLES: dict[str, ModelRole] = {
    "default": ModelRole(
        "voxemo default model",
        "The bundled default: what `voxemo predict` and `voxemo.load_model()` use when no model is "
        "named. It balances accuracy and speed.",
    ),
    "fast": ModelRole(
        "voxemo fast model",
        "The speed-first bundled model (`--model fast`, `load_model('fast')`): a cheaper network for "
        "scoring large collections, streaming and small machines, at some cost in accuracy; compare "
        "its held-out scores with the default model's card.",
    ),
    "accurate": ModelRole(
        "voxemo accurate model",
        "The accuracy-first bundled model (`--model accurate`, `load_model('accurate')`): a small head "
        "on a large frozen speech encoder, much slower and heavier than the fast model.",
    ),
}
#: The optional extra a frames model's backbone needs, by extractor name prefix.
BACKBONE_EXTRAS = {"whisper": "whisper"}


def run_for(name: str) -> Path:
    return REPO / "runs" / name


def dest_for(name: str) -> Path:
    return PRETRAINED / name


def recipe_for(name: str) -> Path:
    return REPO / "recipes" / f"{name}.yaml"


# ---------------------------------------------------------------------------- facts from files


@dataclass
class CorpusFacts:
    """One corpus as ``docs/corpora.md`` describes it."""

    key: str
    title: str
    rows: dict[str, str] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return self.rows.get("language", "unknown")

    @property
    def licence(self) -> str:
        return self.rows.get("licence", "unknown: check the corpus distribution")

    @property
    def language_name(self) -> str:
        """The language without its code and notes: ``English (`en`), North American`` -> ``English``."""
        return self.language.split("(")[0].split(",")[0].strip()

    @property
    def shared_copy(self) -> str:
        return self.rows.get("shared copy", "")

    @property
    def restrictive(self) -> bool:
        words = set(re.findall(r"[a-z-]+", self.licence.lower()))
        return bool(words & set(RESTRICTIVE_TERMS)) or "unknown" in words


def parse_corpus_docs(text: str) -> dict[str, CorpusFacts]:
    """``## Title (`key`)`` sections of docs/corpora.md with their two-column ``| field | value |`` rows."""
    corpora: dict[str, CorpusFacts] = {}
    current: CorpusFacts | None = None
    for line in text.splitlines():
        heading = re.match(r"^##\s+(.+?)\s+\(`([\w-]+)`\)\s*$", line)
        if heading:
            current = CorpusFacts(key=heading.group(2), title=heading.group(1))
            corpora[current.key] = current
            continue
        row = re.match(r"^\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$", line)
        if current is not None and row and row.group(1) not in ("", "---"):
            current.rows[row.group(1)] = row.group(2).replace("\\|", "|")
    return corpora


@dataclass
class BundleFacts:
    """What the card says, gathered from a run folder."""

    config: dict[str, Any]
    heldout: dict[str, Any]
    parameters: int
    weights_bytes: int
    corpora: list[CorpusFacts]
    recipe: Path
    recipe_differences: list[str]
    #: The bundled name installed (``default``, ``fast``, ``accurate``): the card's role.
    name: str = "default"

    @property
    def train(self) -> dict[str, Any]:
        return self.config["train_config"]

    @property
    def input_kind(self) -> str:
        return str(self.config.get("input_kind", "waveform"))

    @property
    def backbone(self) -> dict[str, Any] | None:
        """For a frames model: the frozen extractor's name, options and expected weights hash."""
        if self.input_kind != "frames":
            return None
        inputs = self.train.get("inputs", {})
        params = dict(inputs.get("feature_params") or {})
        name = str(inputs.get("frame_features", "whisper-encoder"))
        extra = next((e for prefix, e in BACKBONE_EXTRAS.items() if name.startswith(prefix)), None)
        return {
            "extractor": name,
            "params": {k: v for k, v in params.items() if k != "expected_sha256"},
            "sha256": params.get("expected_sha256"),
            "extra": extra,
        }

    @property
    def metadata(self) -> dict[str, Any]:
        return self.config.get("metadata") or {}

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InstallError(f"{path} cannot be read as JSON ({exc}); re-run `voxemo train`") from None


def check_run_dir(run_dir: Path) -> None:
    missing = [name for name in BUNDLE_FILES if not (run_dir / name).is_file()]
    if missing:
        hint = (
            "heldout.json is written when `voxemo train` finishes scoring the held-out speakers; "
            "wait for the run to end"
            if missing == [HELDOUT]
            else "train it first: voxemo train --config recipes/default.yaml"
        )
        raise InstallError(f"{run_dir} lacks {', '.join(missing)}: {hint}")


def count_parameters(run_dir: Path) -> int:
    """Trainable parameters of the bundle's model (loading it also checks weights against config)."""
    from voxemo.errors import VoxemoError
    from voxemo.training.checkpoint import load_bundle

    try:
        model, _ = load_bundle(run_dir)
    except VoxemoError as exc:
        raise InstallError(str(exc)) from None
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def recipe_differences(recipe: Path, train_config: dict[str, Any]) -> list[str]:
    """Dotted keys where the recipe differs from the configuration the bundle was trained with."""
    from voxemo.training.cli_train import load_train_config

    if not recipe.is_file():
        return [f"(recipe {recipe} not found)"]
    # Through JSON, as config.json was written: tuples become lists.
    wanted = json.loads(json.dumps(load_train_config(recipe).to_dict()))
    # The label list is filled in from the data when the recipe leaves it empty.
    if not wanted.get("labels"):
        wanted["labels"] = train_config.get("labels")
    return sorted(_diff_keys(wanted, train_config))


#: Marks a key the bundle's config does not have (an option added to voxemo after it was trained).
ABSENT = object()
NEWER_OPTION = " (an option added after this bundle was trained)"
#: Settings the training loop fills in from the data when a recipe leaves them out (input width,
#: frame rate, the backbone weights' sha256): their absence from the recipe is no difference.
FILLED_BY_TRAINING = ("model.params.", "inputs.feature_params.")


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return [d for k in keys for d in _diff_keys(a.get(k, ABSENT), b.get(k, ABSENT), f"{prefix}{k}.")]
    if a == b or (a is ABSENT and prefix.startswith(FILLED_BY_TRAINING)):
        return []
    return [prefix.rstrip(".") + (NEWER_OPTION if b is ABSENT else "")]


def gather_facts(run_dir: Path, recipe: Path, corpus_docs: Path, name: str = "default") -> BundleFacts:
    if name not in ROLES:
        raise InstallError(f"unknown bundled name {name!r}; use one of {', '.join(ROLES)}")
    check_run_dir(run_dir)
    config = read_json(run_dir / CONFIG)
    if not corpus_docs.is_file():
        raise InstallError(f"{corpus_docs} is missing: the card takes corpus languages and licences from it")
    known = parse_corpus_docs(corpus_docs.read_text(encoding="utf-8"))
    names = [entry["name"] for entry in config["train_config"]["data"]["corpora"]]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InstallError(f"{corpus_docs} does not describe corpus {', '.join(unknown)}; add its section")
    return BundleFacts(
        config=config,
        heldout=read_json(run_dir / HELDOUT),
        parameters=count_parameters(run_dir),
        weights_bytes=(run_dir / WEIGHTS).stat().st_size,
        corpora=[known[name] for name in names],
        recipe=recipe,
        recipe_differences=recipe_differences(recipe, config["train_config"]),
        name=name,
    )


# ---------------------------------------------------------------------------- the card


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def by_corpus(speakers: list[str]) -> dict[str, list[str]]:
    """``corpus:speaker`` names grouped by corpus."""
    groups: dict[str, list[str]] = {}
    for name in speakers:
        corpus, _, speaker = str(name).partition(":")
        groups.setdefault(corpus, []).append(speaker)
    return groups


def heldout_ua_line(facts: BundleFacts) -> str:
    """The sentence quoting the held-out UA (tests look for this exact number in the card)."""
    held = facts.heldout
    return (
        f"**Held-out speakers: UA {pct(held['ua'])}** (unweighted average recall over {len(facts.labels)} "
        f"classes; chance {pct(1 / len(facts.labels))}), WA {pct(held['wa'])}, "
        f"macro-F1 {pct(held['macro_f1'])} on {held['n']} clips of {len(held['speakers'])} speakers "
        "that never entered training or validation."
    )


def describe_network(facts: BundleFacts) -> str:
    """``A `cnn` network on log-mel spectrograms`` or ``A `head` on frames of the frozen `x` encoder``."""
    model = facts.train["model"]
    backbone = facts.backbone
    if backbone is None:
        return f"A `{model['name']}` network on log-mel spectrograms"
    return f"A `{model['name']}` head on frames of the frozen `{backbone['extractor']}` backbone"


def install_hint(facts: BundleFacts) -> str:
    """The pip command a frames model's backbone needs (empty for models that need nothing more)."""
    backbone = facts.backbone
    if backbone is None or not backbone["extra"]:
        return ""
    return f"pip install 'voxemo[{backbone['extra']}]'"


def section_summary(facts: BundleFacts) -> list[str]:
    languages = ", ".join(c.language_name for c in facts.corpora)
    role = ROLES[facts.name]
    lines = [
        f"# {role.title}",
        "",
        role.purpose,
        "",
        f"{describe_network(facts)} that recognises "
        f"{len(facts.labels)} emotions ({', '.join(facts.labels)}) in 16 kHz speech. Trained on "
        f"{len(facts.corpora)} acted corpora ({', '.join(c.title for c in facts.corpora)}; "
        f"{languages}).",
    ]
    if install_hint(facts):
        lines += [
            "",
            f"**Needs the optional backbone dependencies:** `{install_hint(facts)}` (the backbone's "
            "weights are not in this bundle; see Model).",
        ]
    return [
        *lines,
        "",
        heldout_ua_line(facts),
        "",
        "**Licence of the weights: non-commercial research use only** (see Training data)."
        if any(c.restrictive for c in facts.corpora)
        else "Licence of the weights: see the licences of the training corpora below.",
        "",
        "*This card is generated by `scripts/install_default_model.py` from the bundle's `config.json` "
        "and `heldout.json`; do not edit it by hand.*",
    ]


def input_lines(facts: BundleFacts) -> list[str]:
    """What the network is fed: its log-mel front end, or the frozen backbone it sits on."""
    backbone = facts.backbone
    rate = facts.train["inputs"]["sample_rate"]
    if backbone is not None:
        options = json.dumps(backbone["params"]) if backbone["params"] else "default options"
        sha = backbone["sha256"]
        return [
            f"- input: {rate} Hz mono waveform -> frames of the frozen `{backbone['extractor']}` backbone "
            f"({options}), computed inside voxemo at prediction time; the head is the only trained part",
            "- backbone weights: "
            + (
                f"SHA-256 `{sha}` (checked when loaded)"
                if sha
                else "no SHA-256 recorded in the bundle (any copy of the named weights is accepted)"
            )
            + "; they are not part of this bundle",
            f"- needs: `{install_hint(facts)}`" if install_hint(facts) else "- needs: no extra packages",
        ]
    front = facts.train["model"]["frontend"]
    rate = front["sample_rate"]
    window_ms, hop_ms = 1000 * front["win_length"] / rate, 1000 * front["hop_length"] / rate
    return [
        f"- input: raw {rate} Hz mono waveform; front end inside the network: {front['n_mels']} log-mel "
        f"bands, {window_ms:g} ms window, {hop_ms:g} ms hop, "
        f"{front['fmin']:g}-{front['fmax']:g} Hz, per-band normalisation fitted on training clips "
        f"(per-clip mean removal: {front['utterance_norm']})",
    ]


def section_model(facts: BundleFacts) -> list[str]:
    model = facts.train["model"]
    optim = facts.train["optim"]
    meta = facts.metadata
    lines = [
        "## Model",
        "",
        f"- architecture: `{model['name']}` with {json.dumps(model['params'])}",
        f"- parameters: {facts.parameters:,} ({facts.weights_bytes / 1e6:.2f} MB of weights, "
        f"`{WEIGHTS}` SHA-256 `{facts.config.get('weights_sha256', '')[:16]}…`)",
        *input_lines(facts),
        f"- output labels: {', '.join(facts.labels)}",
        f"- calibration temperature: {facts.config.get('temperature', 1.0):g}"
        + (" (uncalibrated softmax)" if facts.config.get("temperature", 1.0) == 1.0 else ""),
    ]
    if meta.get("best_epoch"):
        epochs = len((meta.get("history") or {}).get("epoch", [])) or "?"
        seconds = sum((meta.get("history") or {}).get("seconds", []) or [0.0])
        lines.append(
            f"- training: {epochs} epochs run, weights of epoch {meta['best_epoch']} kept (best validation "
            f"UA {pct(meta.get('val_ua'))}), {optim['name']} lr {optim['lr']:g}, "
            f"batch {facts.train['batch_size']}, {facts.train['inputs']['crop_seconds']:g} s random crops, "
            f"seed {facts.train['seed']}"
            + (f", {seconds / 60:.0f} min on {facts.train['num_threads']} CPU thread(s)" if seconds else "")
        )
    refit = meta.get("refit")
    if refit:
        lines.append(
            f"- refit: a fresh model was then trained on training + validation speakers "
            f"({refit['n_train_refit']} clips) for the {refit['selected_epoch']} selected epochs; "
            "that model is this bundle (its temperature comes from the selection run)"
        )
    return lines


def section_data(facts: BundleFacts) -> list[str]:
    meta = facts.metadata
    train = by_corpus(meta.get("train_speakers", []))
    val = by_corpus(meta.get("val_speakers", []))
    held = by_corpus(facts.heldout.get("speakers", []))
    lines = [
        "## Training data",
        "",
        "| corpus | language | licence | training speakers | validation speakers | held-out speakers |",
        "|---|---|---|---:|---:|---|",
    ]
    for corpus in facts.corpora:
        lines.append(
            f"| {corpus.title} (`{corpus.key}`) | {corpus.language} | {corpus.licence} | "
            f"{len(train.get(corpus.key, []))} | {len(val.get(corpus.key, []))} | "
            f"{', '.join(held.get(corpus.key, [])) or '-'} |"
        )
    lines += [
        "",
        f"Emotions kept: {', '.join(facts.train['data']['emotions'] or facts.labels)}; "
        "clips of other emotions in these corpora were left out.",
    ]
    if "n_train" in meta:
        lines[-1] += (
            f" {meta['n_train']} training clips from {len(meta.get('train_speakers', []))} speakers, "
            f"{meta.get('n_val', 0)} validation clips from {len(meta.get('val_speakers', []))} speakers "
            + (
                "(validation speakers chose the number of epochs, then the model was retrained on all "
                f"{len(meta['refit'].get('train_speakers', []))} speakers)."
                if meta.get("refit")
                else "(validation speakers chose the epoch and were not trained on)."
            )
        )
    restricted = [c for c in facts.corpora if c.restrictive]
    if restricted:
        lines += [
            "",
            "**Licence.** The weights are derived from "
            + "; ".join(f"{c.title}: {c.licence}" for c in restricted)
            + "; so they inherit those terms: **non-commercial research use only**. voxemo's code is "
            "MIT-licensed; these weights are not.",
        ]
    return lines


def section_heldout(facts: BundleFacts) -> list[str]:
    held = facts.heldout
    lines = [
        "## Accuracy on held-out speakers",
        "",
        heldout_ua_line(facts) + f" Held-out speakers: {', '.join(held['speakers'])}.",
    ]
    if held.get("ece") is not None:
        lines[-1] += f" Expected calibration error {held['ece']:.3f}, mean NLL {held.get('nll', 0):.3f}."
    lines += ["", "| corpus | held-out speakers | UA |", "|---|---|---:|"]
    groups = by_corpus(held["speakers"])
    for corpus, value in held.get("per_corpus", {}).items():
        lines.append(f"| {corpus} | {', '.join(groups.get(corpus, []))} | {pct(value)} |")
    lines += ["", "| emotion | recall |", "|---|---:|"]
    for label, value in held["per_class_recall"].items():
        lines.append(f"| {label} | {pct(value) if value is not None else 'n/a (no held-out clips)'} |")
    lines += ["", *confusion_table(held.get("confusion"))]
    lines += [
        "",
        "The held-out speakers come from the same corpora as the training speakers: same studios, "
        "same sentences, same acting instructions. The numbers measure generalisation to new *voices* "
        "under those conditions, not to new recording conditions or spontaneous speech, where accuracy "
        "is lower.",
    ]
    return lines


def confusion_table(confusion: dict[str, Any] | None) -> list[str]:
    if not confusion:
        return []
    labels = confusion["labels"]
    lines = [
        "Confusion matrix (rows: acted emotion, columns: prediction, counts):",
        "",
        "| | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for label, row in zip(labels, confusion["matrix"], strict=True):
        lines.append(f"| **{label}** | " + " | ".join(str(v) for v in row) + " |")
    return lines


def section_limits(facts: BundleFacts) -> list[str]:
    inputs = facts.train["inputs"]
    lines = [
        "## Known limits",
        "",
        "- **Acted speech.** Every training clip is an actor portraying an emotion on cue, often "
        "exaggerated. Real conversations are subtler and mixed; expect much lower accuracy on them.",
        f"- **{len(facts.corpora)} languages** ({', '.join(c.language_name for c in facts.corpora)}). Other "
        "languages and accents are untested.",
        f"- **Short utterances.** Trained on {inputs['crop_seconds']:g} s crops of single sentences "
        f"(clips under {inputs['min_seconds']:g} s are zero-padded). Longer recordings are scored "
        "over speech windows (`voxemo timeline`), which the model never saw as a whole.",
        f"- **{len(facts.labels)} classes only** ({', '.join(facts.labels)}). Anything else ("
        + ", ".join([*unused_emotions(facts.labels), "mixed feelings", "no emotion at all"])
        + ") is forced onto one of them.",
    ]
    for corpus in facts.corpora:
        if corpus.shared_copy:
            lines.append(f"- **{corpus.title} copy used:** {corpus.shared_copy}.")
    voices = len(all_speakers(facts))
    if voices:
        lines.append(
            f"- **{voices} voices in all** (adult actors), so unusual voices (children, elderly "
            "speakers, voice disorders) may be scored poorly."
        )
    return lines


def unused_emotions(labels: list[str]) -> list[str]:
    """Emotions of voxemo's canonical vocabulary this model cannot output."""
    from voxemo.corpora.labels import EMOTIONS

    return [emotion for emotion in EMOTIONS if emotion not in labels]


def all_speakers(facts: BundleFacts) -> set[str]:
    meta = facts.metadata
    return {
        *meta.get("train_speakers", []),
        *meta.get("val_speakers", []),
        *facts.heldout.get("speakers", []),
    }


def section_use(facts: BundleFacts) -> list[str]:
    threshold = float(facts.metadata.get("uncertainty_threshold", 0.0) or 0.0)
    return [
        "## Intended use",
        "",
        "Research, teaching and prototyping of speech emotion recognition; demos; a baseline to "
        "compare new models against; aggregate analysis of acted or laboratory speech.",
        "",
        "## Uses to avoid",
        "",
        "- Decisions about individuals: hiring, grading, credit, insurance, medical or psychological "
        "assessment, lie detection, law enforcement.",
        "- Surveillance or monitoring of people (employees, students, customers, the public), "
        "and any use on people who have not agreed to it.",
        "- Commercial products (the licence forbids it) and any claim that the output is what a person "
        "feels: the model reports how a voice *sounds* compared with acted examples.",
        "",
        "## Confidence and `uncertain`",
        "",
        "Each prediction carries a probability per emotion (softmax of the logits divided by the "
        f"calibration temperature, here {facts.config.get('temperature', 1.0):g}), `confidence` = the "
        "top probability, and `uncertain` = confidence below a threshold. "
        + (
            f"This bundle's threshold is {threshold:g}."
            if threshold > 0
            else "This bundle sets no threshold (0), so nothing is flagged unless you choose one: "
            "`voxemo predict --threshold 0.5` or `load_model(uncertainty_threshold=0.5)`."
        )
        + f" With {len(facts.labels)} classes, chance-level confidence is {pct(1 / len(facts.labels))}.",
    ]


def section_reproduce(facts: BundleFacts) -> list[str]:
    try:
        recipe = facts.recipe.resolve().relative_to(REPO)
    except ValueError:
        recipe = facts.recipe
    out_dir = facts.train.get("out_dir") or f"runs/{facts.name}"
    name_option = "" if facts.name == "default" else f" --name {facts.name}"
    lines = [
        "## Reproduce",
        "",
        "```bash",
        *([f"{install_hint(facts)}          # the backbone"] if install_hint(facts) else []),
        f"voxemo train --config {recipe}          # needs the corpora under ../shared/datasets",
        f"python scripts/install_default_model.py {out_dir}{name_option}",
        "```",
        "",
        f"`{CONFIG}` holds the exact configuration; `{HELDOUT}` the held-out scores quoted above.",
    ]
    if facts.recipe_differences:
        lines.append(
            f"Note: the bundle's settings differ from {recipe} as it reads today in "
            + ", ".join(_quoted_difference(k) for k in facts.recipe_differences)
            + f"; `{CONFIG}` has the values used, and re-running the recipe applies today's values."
        )
    return lines


def _quoted_difference(difference: str) -> str:
    """``a.b (note)`` -> ```a.b` (note)``."""
    key = difference.removesuffix(NEWER_OPTION)
    return f"`{key}`" + (NEWER_OPTION if key != difference else "")


def render_card(facts: BundleFacts) -> str:
    sections = (
        section_summary,
        section_model,
        section_data,
        section_heldout,
        section_limits,
        section_use,
        section_reproduce,
    )
    return "\n\n".join("\n".join(section(facts)) for section in sections) + "\n"


# ---------------------------------------------------------------------------- installing


def install(
    run_dir: Path,
    dest: Path = DEFAULT_DEST,
    *,
    recipe: Path = DEFAULT_RECIPE,
    corpus_docs: Path = CORPUS_DOCS,
    max_weights_mb: float = MAX_WEIGHTS_MB,
    name: str = "default",
) -> BundleFacts:
    """Copy the bundle of ``run_dir`` into ``dest`` and write its model card; returns what the card says.

    ``name`` is the bundled name (``default``, ``fast``, ``accurate``) whose role the card describes.
    """
    facts = gather_facts(run_dir, recipe, corpus_docs, name)
    if facts.weights_bytes > max_weights_mb * 1e6:
        raise InstallError(
            f"{run_dir / WEIGHTS} is {facts.weights_bytes / 1e6:.1f} MB, over the {max_weights_mb:g} MB "
            "a bundled model may take in the package; train a smaller model"
        )
    card = render_card(facts)
    dest.mkdir(parents=True, exist_ok=True)
    # Weights before config (config carries the weights' hash), card last: a reader never sees a
    # config that points at missing weights. World-readable so an installed wheel can read them.
    for name in BUNDLE_FILES:
        tmp = dest / f".{name}.tmp"
        shutil.copyfile(run_dir / name, tmp)
        tmp.chmod(0o644)
        tmp.replace(dest / name)
    tmp = dest / f".{CARD}.tmp"
    tmp.write_text(card, encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(dest / CARD)
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="finished training run (default: runs/<name>)")
    parser.add_argument(
        "--name", choices=list(ROLES), default="default", help="bundled name to install as (default: default)"
    )
    parser.add_argument("--dest", type=Path, help="bundle folder to write (default: pretrained/<name>)")
    parser.add_argument("--recipe", type=Path, help="recipe the run was trained with (recipes/<name>.yaml)")
    parser.add_argument("--max-mb", type=float, default=MAX_WEIGHTS_MB, help="largest weights file accepted")
    args = parser.parse_args(argv)
    args.run_dir = args.run_dir or run_for(args.name)
    args.dest = args.dest or dest_for(args.name)
    args.recipe = args.recipe or recipe_for(args.name)
    from voxemo.errors import VoxemoError

    try:
        facts = install(
            args.run_dir, args.dest, recipe=args.recipe, max_weights_mb=args.max_mb, name=args.name
        )
    except (InstallError, VoxemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"installed {args.run_dir} -> {args.dest} ({facts.parameters:,} parameters, "
        f"{facts.weights_bytes / 1e6:.2f} MB); held-out UA {pct(facts.heldout['ua'])}"
    )
    for key in facts.recipe_differences:
        print(f"warning: the bundle differs from {args.recipe} in {key}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
