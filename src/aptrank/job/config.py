"""The configuration of ``aptrank run``: :class:`RunConfig`, its profiles and baselines, and
reading it back from a TOML or JSON file (a run folder's saved ``config.json`` included)."""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.experiment import DEFAULT_METRICS

#: The rankers the diagnose step compares (the pretrained ones of the baselines).
DIAGNOSED = ("bm25", "dense")

BASELINES = ("bm25", "dense", "bm25>>dense@100")

PROFILES: dict[str, tuple[str, ...]] = {
    "default": ("evaluate", "diagnose", "align", "report"),
    "full": ("evaluate", "diagnose", "align", "teach", "distill", "report"),
}


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """Everything ``aptrank run`` does; saved as ``config.json`` in the run folder."""

    dataset: str
    split: str = "test"
    profile: str = "default"
    steps: tuple[str, ...] = PROFILES["default"]
    pipelines: tuple[str, ...] = BASELINES
    diagnosed: tuple[str, ...] = DIAGNOSED
    metrics: tuple[str, ...] = DEFAULT_METRICS
    depth: int = 1000
    seed: int = 0
    #: the teach and distill steps' teacher; without one they are skipped
    teacher: str | None = None
    synthetic_docs: int = 800
    sizes: tuple[int, ...] = (0, 50, 100, 200)
    #: further TeachConfig / DistillConfig fields for the teach and distill steps
    teach_options: dict[str, Any] = field(default_factory=dict)
    distill_options: dict[str, Any] = field(default_factory=dict)
    #: RLExperimentConfig fields for the rl-rewrite / rl-summarize steps; ``grpo`` may hold a
    #: dict of GRPOTrainConfig fields
    rl_options: dict[str, Any] = field(default_factory=dict)
    #: AlignConfig fields for the align step (finetune_options, adapter_options, base, ...)
    align_options: dict[str, Any] = field(default_factory=dict)
    #: a compatibility scorer's folder (``aptrank constraints train``) for the constrain(...)
    #: pipelines added when the queries carry explicit constraints
    constraint_model: str | None = None

    @classmethod
    def from_profile(
        cls,
        dataset: str,
        profile: str = "default",
        split: str = "test",
        steps: Sequence[str] | None = None,
    ) -> RunConfig:
        values = {"dataset": dataset, "profile": profile, "split": split, "steps": steps}
        return cls.from_dict({k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> RunConfig:
        """A checked config from plain values (a TOML table, a saved ``run`` object): lists
        become tuples, dicts are copied, ``steps`` default to the profile's. Unknown keys, wrong
        types and unknown steps or profiles raise, naming ``source`` (a file) and the key."""
        where = f"{source}: " if source else ""
        hints = typing.get_type_hints(cls)
        known = [f.name for f in fields(cls)]
        for key, value in values.items():
            if key not in known:
                raise AptrankError(f"{where}unknown key {key!r}; the keys are {', '.join(known)}")
            if not _fits(value, hints[key]):
                raise AptrankError(
                    f"{where}key {key!r} should be {_describe(hints[key])}, not {value!r}"
                )
        if "dataset" not in values:
            raise AptrankError(f"{where}no dataset: give a DATASET or a 'dataset' key")
        checked = {
            k: tuple(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
            for k, v in values.items()
        }
        profile = checked.get("profile", "default")
        if profile not in PROFILES:
            raise AptrankError(
                f"{where}unknown profile {profile!r}; choose one of {', '.join(PROFILES)}"
            )
        from aptrank.job import STEPS  # the registry (filled when aptrank.job is imported)

        chosen = tuple(s.strip() for s in checked.get("steps", ()) if s.strip())
        chosen = chosen or PROFILES[profile]
        unknown = [s for s in chosen if s not in STEPS]
        if unknown:
            raise AptrankError(
                f"{where}unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEPS)}"
            )
        return cls(**{**checked, "profile": profile, "steps": chosen})

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> RunConfig:
        """The config in a TOML or JSON file of RunConfig fields, or in a run folder's saved
        ``config.json`` (its ``run`` object), with ``overrides`` (options given on the command
        line) on top; an overridden ``profile`` brings its own steps unless ``steps`` is too."""
        values = read_config_file(Path(path))
        if isinstance(values.get("run"), dict):
            values = values["run"]
        if "profile" in overrides and "steps" not in overrides:
            values = {k: v for k, v in values.items() if k != "steps"}
        return cls.from_dict({**values, **overrides}, source=str(path))

    def with_pipelines(self, extra: Sequence[str]) -> RunConfig:
        """``extra`` pipelines after this config's own, duplicates dropped, order kept."""
        return replace(self, pipelines=tuple(dict.fromkeys([*self.pipelines, *extra])))


def read_config_file(path: Path) -> dict[str, Any]:
    """The top-level table of a ``.toml`` or ``.json`` file; errors name the file (and line)."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise AptrankError(f"{path}: a config file is .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AptrankError(f"{path}: cannot read the config file ({e})") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AptrankError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    else:
        toml = _toml_module(path)
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as e:
            raise AptrankError(f"{path}: not valid TOML ({e})") from None
    if not isinstance(data, dict):
        raise AptrankError(f"{path}: expected a table of settings, not {type(data).__name__}")
    return data


def _toml_module(path: Path) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # Python 3.10
        import tomli
    except ModuleNotFoundError:
        raise AptrankError(
            f"{path}: reading TOML on Python 3.10 needs tomli: pip install tomli"
        ) from None
    return tomli


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON/TOML value fits a field type (a list fits a tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return "a table of options"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    return str(getattr(hint, "__name__", hint))


# -- the job: its result, the context a step sees, the step registry ------------------------------
