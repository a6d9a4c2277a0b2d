"""The Train Model wizard's advanced settings, generated from the library's settings schema (RunConfig's JSON
Schema): its defaults, ranges and help text, grouped as the docs group them (core, learning rate, augmentation,
task-specific). The library's schema is data, not the database: reading it here keeps one source of truth."""

from __future__ import annotations

from functools import cache
from typing import Any

# set in the wizard's main steps, decided by the platform, or meaningless for a platform job
MAIN = {"epochs", "imgsz", "batch", "model", "data", "name", "project", "device", "exist_ok", "resume", "task",
        "mode", "cfg", "save", "verbose", "profile", "pretrained"}  # fmt: skip
LEARNING = ["optimizer", "lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum",
            "warmup_bias_lr", "cos_lr", "nbs", "box", "cls", "dfl"]  # fmt: skip
GROUPS = ("Core", "Learning rate", "Augmentation", "Task-specific")


def _kind(spec: dict[str, Any]) -> tuple[str, list[Any] | None, dict[str, Any]]:
    """(input kind: number|integer|boolean|choice|json|text, choices, the numeric spec holding the bounds)."""
    options = spec.get("anyOf") or [spec]
    types = [o.get("type") for o in options]
    enums = [v for o in options for v in (o.get("enum") or ([o["const"]] if "const" in o else []))]
    if enums:
        extra = [True, False] if "boolean" in types else []
        return "choice", extra + enums + ([None] if "null" in types else []), {}
    if "array" in types:
        return "json", None, {}
    for t in ("integer", "number"):
        if t in types:
            return t, None, next(o for o in options if o.get("type") == t)
    if types == ["boolean"]:
        return "boolean", None, {}
    return "text", None, {}


def _field(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    kind, choices, num = _kind(spec)
    return {
        "name": name,
        "kind": kind,
        "choices": choices,
        "default": spec.get("default"),
        "min": num.get("minimum", num.get("exclusiveMinimum")),
        "max": num.get("maximum", num.get("exclusiveMaximum")),
        "help": spec.get("description", ""),
        "task": spec.get("task"),
    }


@cache
def settings_groups() -> dict[str, list[dict[str, Any]]]:
    """Group title -> fields ({name, kind, choices, default, min, max, help, task}) of the training settings."""
    from yoloforge.cfg.schema import RunConfig

    props = RunConfig.model_json_schema()["properties"]
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUPS}
    for name in LEARNING:
        groups["Learning rate"].append(_field(name, props[name]))
    for name, spec in props.items():
        if name in MAIN or name in LEARNING or spec.get("group") not in ("train", "augment"):
            continue
        title = "Task-specific" if spec.get("task") else "Augmentation" if spec["group"] == "augment" else "Core"
        groups[title].append(_field(name, spec))
    return groups
