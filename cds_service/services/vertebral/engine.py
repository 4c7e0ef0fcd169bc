"""Domain layer: compiles the vertebral augmentation CQL libraries once per configuration version and feeds
them configuration (value sets, profile thresholds, vertebra table) as CQL value sets and parameters."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from cds_service.admin.config import LEVELS, ActiveConfig, ExpandedValueSet, ServiceConfig
from cds_service.cql.types import Code, Tuple

# Located through the package, not __file__: this module may be the compiled build (cds_service/accel.py).
CQL_DIR = Path(str(resources.files("cds_service.services.vertebral").joinpath("cql")))
ENTRY_LIBRARY = "VAEvaluation"
# The defines of VAEvaluation the logic reads (one evaluation feeds cards and trace). The technique ranking
# is asked for afterwards, in the same evaluation, and only when a level will show it (a.4: not for levels
# that are absolutely contraindicated or whose indications are not met).
FIRST_DEFINES: tuple[str, ...] = (
    "Indications", "Contraindications", "Coverage Notes", "Documentation",
    "Levels Missing SINS", "Etiology Conflicts", "Hospitalized",
)
TECHNIQUE_DEFINE = "Techniques"
RESULT_DEFINES: tuple[str, ...] = FIRST_DEFINES + (TECHNIQUE_DEFINE,)
_PARAMETER = re.compile(r'^parameter\s+"([^"]+)"', re.MULTILINE)
_VALUESET = re.compile(r"^valueset\s+\"[^\"]+\"\s*:\s*'([^']+)'", re.MULTILINE)


def load_source(name: str, version: str | None = None) -> str:
    """LibraryManager loader: the CQL text of one of our libraries (version checked against the header)."""
    path = CQL_DIR / f"{name}.cql"
    if not path.is_file():
        raise KeyError(f"unknown CQL library {name!r}")
    source = path.read_text(encoding="utf-8")
    if version is not None and f"library {name} version '{version}'" not in source:
        raise KeyError(f"CQL library {name!r} version {version!r} not found")
    return source


def declared_parameters() -> frozenset[str]:
    """Names of every `parameter` declared by our libraries (only those are passed to the engine)."""
    names: set[str] = set()
    for path in CQL_DIR.glob("*.cql"):
        names.update(_PARAMETER.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


def declared_valuesets() -> frozenset[str]:
    """Ids of every value set our libraries declare (each must exist in the active configuration)."""
    ids: set[str] = set()
    for path in CQL_DIR.glob("*.cql"):
        ids.update(_VALUESET.findall(path.read_text(encoding="utf-8")))
    return frozenset(ids)


def check_configuration(config: ServiceConfig) -> list[str]:
    """Problems that would make the logic fail at request time: missing value sets, billing table drift."""
    from cds_service.services.vertebral.orders import check_billing_table

    known = set(config.valueset_ids())
    problems = [f"value set {vs_id} is used by the clinical logic but not configured"
                for vs_id in sorted(declared_valuesets() - known)]
    needed = {"VS-BODYSITE-VERTEBRA", "VS-PROC-VA", "VS-PROC-VP", "VS-PROC-AUGMENTATION", "VS-PROC-SPINEJACK",
              "VS-ORDER-MRI", "VS-ORDER-DXA", "VS-ORDER-COAG-LABS", "VS-RX-ANTICOAG", "VS-RX-ANTIPLT"}
    problems += [f"value set {vs_id} is used by the service but not configured" for vs_id in sorted(needed - known)]
    if not problems:
        problems += check_billing_table(config)
    return problems


class ConfigValueSet:
    """A configuration value set as the engine's ValueSet protocol (codes + prefix-filter membership)."""

    def __init__(self, expanded: ExpandedValueSet) -> None:
        self._vs = expanded
        self._codes = tuple(Code(c.code, c.system, None, c.display) for c in expanded.codes)

    @property
    def codes(self) -> tuple[Code, ...]:
        return self._codes

    def contains(self, code: Any) -> bool:
        return self._vs.contains(getattr(code, "system", None), getattr(code, "code", None))


class ConfigValueSetResolver:
    """ValueSetResolver over the active configuration's value sets (by id `VS-...` or canonical URL)."""

    def __init__(self, config: ServiceConfig) -> None:
        self._config = config
        self._cache: dict[str, ConfigValueSet] = {}

    def resolve(self, id_or_url: str) -> ConfigValueSet:
        found = self._cache.get(id_or_url)
        if found is None:
            found = ConfigValueSet(self._config.expand_valueset(id_or_url))  # KeyError names the value set
            self._cache[id_or_url] = found
        return found


def _cql_value(value: Any) -> Any:
    # Pydantic gives floats for the percentage thresholds; CQL Decimal wants decimal.Decimal.
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def static_parameters(config: ServiceConfig) -> dict[str, Any]:
    """The CQL parameters fixed for a configuration version: profile thresholds, vertebra table, holds."""
    params = {name: _cql_value(v) for name, v in config.clinical.active_params().cql_parameters().items()}
    declared = declared_parameters()
    out = {k: v for k, v in params.items() if k in declared}
    sites = {level: key for key, level in config.vertebra_levels().items()}
    out["VertebralLevels"] = [
        Tuple(label=label, ordinal=i + 1, system=sites.get(label, (None, None))[0], code=sites.get(label, (None, None))[1])
        for i, label in enumerate(LEVELS)
    ]
    holds = config.clinical.active_params().antithrombotic_hold_days
    rows = []
    for vs_id in ("VS-RX-ANTICOAG", "VS-RX-ANTIPLT"):
        for code in config.expand_valueset(vs_id).codes:
            ingredient = (code.display or "").lower()
            days = holds.get(ingredient)
            if days is None:
                # "dabigatran etexilate" -> "dabigatran": the hold table is keyed by ingredient name.
                days = next((d for name, d in holds.items() if ingredient.startswith(name)), None)
            if days is not None:
                rows.append(Tuple(system=code.system, code=code.code, ingredient=ingredient,
                                  days=Decimal(str(days))))
    out["AntithromboticHolds"] = rows
    out["LocalFindingsSystem"] = config.codesystems["local"]
    return out


@dataclass
class CompiledLogic:
    """One configuration version's compiled library, value-set resolver and fixed parameters."""

    version: str
    library: Any
    resolver: ConfigValueSetResolver
    parameters: Mapping[str, Any]


_CACHE: dict[str, CompiledLogic] = {}
_LOCK = threading.Lock()
_MANAGER: Any = None


def _manager() -> Any:
    global _MANAGER
    if _MANAGER is None:
        from cds_service.cql import LibraryManager

        # One manager for the process: the CQL text does not change with the configuration, so each
        # library is parsed and compiled once; only parameters and value sets vary per version.
        _MANAGER = LibraryManager(load_source)
    return _MANAGER


def compiled(active: ActiveConfig) -> CompiledLogic:
    """The compiled logic for this configuration version (compiled on first use, then cached)."""
    found = _CACHE.get(active.version)
    if found is not None:
        return found
    with _LOCK:
        found = _CACHE.get(active.version)
        if found is None:
            problems = check_configuration(active.config)
            if problems:
                raise ValueError("configuration cannot run the vertebral logic: " + "; ".join(problems))
            library = _manager().load(ENTRY_LIBRARY)
            found = CompiledLogic(active.version, library, ConfigValueSetResolver(active.config),
                                  static_parameters(active.config))
            if len(_CACHE) > 16:  # old versions are not needed once a newer one is active
                _CACHE.clear()
            _CACHE[active.version] = found
        return found


def start(logic: CompiledLogic, data: Any, *, levels: Sequence[str], encounter_id: str | None, now: Any) -> Any:
    """One evaluation of VAEvaluation for the ordered levels; `.evaluate(names)` gives define name -> CQL
    value, sharing everything already computed."""
    from cds_service.cql import EvaluationContext

    params = dict(logic.parameters)
    params["OrderedLevels"] = list(levels)
    params["EncounterId"] = encounter_id
    ctx = EvaluationContext(data=data, valuesets=logic.resolver, parameters=params, now=now)
    return logic.library.start(ctx)


def evaluate(logic: CompiledLogic, data: Any, *, levels: Sequence[str], encounter_id: str | None,
             now: Any) -> dict[str, Any]:
    """Run VAEvaluation once for the ordered levels; returns define name -> CQL value for every result define."""
    return dict(start(logic, data, levels=levels, encounter_id=encounter_id, now=now).evaluate(RESULT_DEFINES))
