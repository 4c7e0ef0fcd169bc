"""Admin layer: renders the configuration key reference (every key, default, meaning, evidence) for docs/configuration.md."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from cds_service.admin.config import (
    AdminConfig,
    CardsConfig,
    CardSource,
    ClinicalConfig,
    ProfileParams,
    SecurityConfig,
    SiteLink,
    TextOverride,
    TrustedIssuer,
    ValueSetDef,
    config_to_data,
    default_config,
)

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m cds_service.admin.reference) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _cell(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else f'"{value}"'
    return text.replace("|", "\\|")


def _table(prefix: str, model: type[BaseModel], defaults: dict[str, Any] | None, skip: tuple[str, ...] = ()) -> list[str]:
    lines = ["| key | default | meaning (spec id, evidence) |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        default = (defaults or {}).get(name, "(none)") if defaults is not None else "-"
        if isinstance(default, dict) and len(json.dumps(default)) > 80:
            default = "table, see below" if name == "antithrombotic_hold_days" else "(see below)"
        meaning = (info.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{prefix}{name}` | {_cell(default) if default not in ('-', '(see below)', 'table, see below') else default} | {meaning} |")
    return lines


def render_reference() -> str:
    data = config_to_data(default_config())
    out: list[str] = [BEGIN, ""]
    out += ["### `[clinical]`", ""]
    out += _table("clinical.", ClinicalConfig, data["clinical"], skip=("profiles",))
    out += ["", "### `[clinical.profiles.<name>]` (ProfileParams)", "",
            "Defaults of `cms-lcd`; `commercial-6wk` and `evicore` differ only where stated in the meaning.", ""]
    out += _table("", ProfileParams, data["clinical"]["profiles"]["cms-lcd"])
    out += ["", "Default `antithrombotic_hold_days` (P15, [M], verify against ASRA 2018):", "",
            "| ingredient | days |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in data["clinical"]["profiles"]["cms-lcd"]["antithrombotic_hold_days"].items()]
    out += ["", "Profiles shipped:", ""]
    for name, params in data["clinical"]["profiles"].items():
        base = data["clinical"]["profiles"]["cms-lcd"]
        differences = {k: v for k, v in params.items() if base.get(k) != v and k != "description"}
        out.append(f"- `{name}`: {params.get('description', '')} Differences from cms-lcd: "
                   f"{json.dumps(differences) if differences else 'none'}.")
    out += ["", "### `[codesystems]`", "", "| alias | URI |", "|---|---|"]
    out += [f"| `{alias}` | {uri} |" for alias, uri in data["codesystems"].items()]
    out += ["", "### `[valuesets.<VS-ID>]`", ""]
    out += _table("", ValueSetDef, None)
    out += ["", "| id | title | evidence | codes | filters |", "|---|---|---|---|---|"]
    for vs_id, vs in data["valuesets"].items():
        out.append(f"| `{vs_id}` | {vs.get('title', '')} | {vs.get('evidence', '').replace('|', '/')} | "
                   f"{len(vs.get('codes', []))} | {', '.join(f'`{f}`' for f in vs.get('filters', []))} |")
    out += ["", "### `[rules.<RULE-ID>]`", "",
            "`enabled` (default `true`) for each of: " + ", ".join(f"`{r}`" for r in data["rules"]) + ".", ""]
    out += ["### `[cards]`", ""]
    out += _table("cards.", CardsConfig, {"site_links": [], "text_overrides": {}}, skip=("source",))
    out += ["", "`[cards.source]`:", ""] + _table("cards.source.", CardSource, data["cards"]["source"])
    out += ["", "`[[cards.site_links]]`:", ""] + _table("", SiteLink, {"type": "absolute", "cards": []})
    out += ["", "`[cards.text_overrides.<CARD-ID>]`:", ""] + _table("", TextOverride, {})
    out += ["", "### `[security]`", ""] + _table("security.", SecurityConfig, data["security"])
    out += ["", "`[security.trusted_issuers.\"<iss>\"]`:", ""] + _table("", TrustedIssuer, {})
    out += ["", "### `[admin]`", ""] + _table("admin.", AdminConfig, data["admin"])
    out += ["", END]
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/configuration.md")
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + render_reference() + tail, encoding="utf-8")
    print(f"updated {path}")
