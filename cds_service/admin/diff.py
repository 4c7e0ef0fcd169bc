"""Admin layer: the difference between two configurations as dotted key paths (for review, history and `config diff`)."""

from __future__ import annotations

from typing import Any

from cds_service.admin.config import ServiceConfig, config_to_data


def _walk(old: Any, new: Any, path: str, out: list[dict[str, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append({"path": child, "old": None, "new": new[key]})
            elif key not in new:
                out.append({"path": child, "old": old[key], "new": None})
            else:
                _walk(old[key], new[key], child, out)
        return
    if old == new:
        return
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(x, str) for x in old + new):
        added = [x for x in new if x not in old]
        removed = [x for x in old if x not in new]
        if added or removed:
            # Value sets hold hundreds of codes: the reviewer needs what changed, not both lists.
            out.append({"path": path, "added": added, "removed": removed})
            return
    out.append({"path": path, "old": old, "new": new})


def data_diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries {path, old, new} (a whole added/removed table is one entry; string lists give {added, removed})."""
    out: list[dict[str, Any]] = []
    _walk(old, new, "", out)
    return out


def config_diff(old: ServiceConfig, new: ServiceConfig) -> list[dict[str, Any]]:
    """What `new` changes against `old`."""
    return data_diff(config_to_data(old), config_to_data(new))


def format_diff(entries: list[dict[str, Any]]) -> str:
    """Human-readable lines, one per changed key."""
    if not entries:
        return "no changes"
    lines = []
    for entry in entries:
        if "added" in entry:
            parts = []
            if entry["added"]:
                parts.append("+ " + ", ".join(map(str, entry["added"])))
            if entry["removed"]:
                parts.append("- " + ", ".join(map(str, entry["removed"])))
            lines.append(f"{entry['path']}: {'; '.join(parts)}")
        else:
            old, new = entry["old"], entry["new"]
            if old is None and isinstance(new, dict):
                lines.append(f"{entry['path']}: added ({len(new)} keys)")
            elif new is None and isinstance(old, dict):
                lines.append(f"{entry['path']}: removed")
            else:
                lines.append(f"{entry['path']}: {old!r} -> {new!r}")
    return "\n".join(lines)
