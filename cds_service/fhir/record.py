"""DATA layer: PatientRecord, the engine's DataSource over one request's FHIR JSON, indexed by type, code and reference.

Built once per request from plain dicts (no pydantic validation: that is the request-path cost to avoid), so a
`[Observation: "INR"]` retrieve looks up a handful of (system, code) keys instead of scanning the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from cds_service.cql.datasource import ValueSet
from cds_service.cql.fhirmodel import PRIMARY_CODE_PATHS
from cds_service.cql.types import Code, Concept

_CodeKey = tuple[str | None, str]

# Primary code path -> the JSON keys that hold it (choice elements have several; a Reference is resolved
# to the referenced Medication/Device inside the record and that resource's code is indexed).
_CODE_KEYS: dict[str, tuple[str, ...]] = {
    "medication": ("medicationCodeableConcept", "medicationReference"),
    "code": ("code", "codeCodeableConcept", "codeReference"),
}


def _strip_namespace(data_type: str) -> str:
    if data_type.startswith("{"):
        return data_type.split("}", 1)[1]
    if "." in data_type:
        return data_type.rsplit(".", 1)[1]
    return data_type


def _codings(value: Any) -> Iterator[dict[str, Any]]:
    """The Coding dicts of a CodeableConcept, a Coding, or a list of either."""
    if isinstance(value, list):
        for item in value:
            yield from _codings(item)
    elif isinstance(value, dict):
        coding = value.get("coding")
        if isinstance(coding, list):
            yield from (c for c in coding if isinstance(c, dict))
        elif isinstance(coding, dict):
            yield coding
        elif "code" in value and isinstance(value.get("code"), str):
            yield value


class PatientRecord:
    """Everything gathered for one hook call, indexed; implements `cds_service.cql.datasource.DataSource`."""

    __slots__ = ("resources", "_by_type", "_by_code", "_by_ref", "_full_urls", "_patient", "_vs_cache")

    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        self.resources: list[dict[str, Any]] = []
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        # `Type/id` (then bundle fullUrl) -> resource: built on the first reference resolved, since most
        # requests resolve none and the keys cost a string per resource.
        self._by_ref: dict[str, dict[str, Any]] | None = None
        self._full_urls: list[tuple[str, dict[str, Any]]] = []
        self._patient: dict[str, Any] | None = None
        kept, by_type = self.resources, self._by_type
        for resource in _flatten(resources):
            resource_type = resource.get("resourceType")
            if not isinstance(resource_type, str):
                continue
            kept.append(resource)
            same_type = by_type.get(resource_type)
            if same_type is None:
                by_type[resource_type] = [resource]
            else:
                same_type.append(resource)
            if resource_type == "Patient" and self._patient is None:
                self._patient = resource
        # type -> (system, code) -> resources in record order; built lazily per type on first coded retrieve,
        # so a request whose logic never filters Procedures by code never pays for indexing them.
        self._by_code: dict[str, dict[_CodeKey, list[dict[str, Any]]]] = {}
        self._vs_cache: dict[tuple[str, int], tuple[ValueSet, list[dict[str, Any]]]] = {}

    @classmethod
    def from_bundle(cls, bundle: dict[str, Any]) -> "PatientRecord":
        record = cls(entry["resource"] for entry in bundle.get("entry") or () if isinstance(entry, dict)
                     and isinstance(entry.get("resource"), dict))
        for entry in bundle.get("entry") or ():
            if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str) and isinstance(entry.get("resource"), dict):
                record._full_urls.append((entry["fullUrl"], entry["resource"]))
        return record

    def __len__(self) -> int:
        return len(self.resources)

    @property
    def patient(self) -> dict[str, Any] | None:
        return self._patient

    def by_type(self, resource_type: str) -> list[dict[str, Any]]:
        return self._by_type.get(_strip_namespace(resource_type), [])

    def types(self) -> dict[str, int]:
        """Resource counts per type (for logs and audit: counts only, no content)."""
        return {name: len(items) for name, items in self._by_type.items()}

    def get(self, reference: str | dict[str, Any] | None, within: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Resolve `Type/id`, an absolute URL ending in `Type/id`, a bundle fullUrl, or a Reference dict;
        `#id` resolves among the `contained` resources of `within` (the resource holding the reference)."""
        if isinstance(reference, dict):
            reference = reference.get("reference")
        if not isinstance(reference, str) or not reference:
            return None
        if reference.startswith("#"):
            for contained in (within or {}).get("contained") or ():
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    return contained
            return None
        refs = self._refs()
        found = refs.get(reference)
        if found is not None:
            return found
        parts = reference.rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) >= 2:
            return refs.get(f"{parts[-2]}/{parts[-1]}")
        return None

    def _refs(self) -> dict[str, dict[str, Any]]:
        refs = self._by_ref
        if refs is None:
            refs = {}
            for resource in self.resources:
                resource_id = resource.get("id")
                if isinstance(resource_id, str):
                    refs.setdefault(f"{resource['resourceType']}/{resource_id}", resource)
            for full_url, resource in self._full_urls:
                refs.setdefault(full_url, resource)
            self._by_ref = refs
        return refs

    # -- DataSource ---------------------------------------------------------------------------------------

    def retrieve(
        self,
        data_type: str,
        *,
        code_path: str | None = None,
        codes: Sequence[Any] | None = None,
        valueset: ValueSet | None = None,
        date_path: str | None = None,
        date_range: Any | None = None,
    ) -> Sequence[dict[str, Any]]:
        """Resources of `data_type`; code filters on the primary code path use the index, others are left to
        the engine (which re-applies every filter, so returning a superset is always correct)."""
        resource_type = _strip_namespace(data_type)
        everything = self._by_type.get(resource_type, [])
        if (codes is None and valueset is None) or not everything:
            return everything
        primary = PRIMARY_CODE_PATHS.get(resource_type)
        if primary is None or (code_path is not None and code_path != primary):
            return everything
        index = self._code_index(resource_type, primary)
        if valueset is not None:
            return self._valueset_matches(resource_type, index, valueset)
        keys: list[_CodeKey] = []
        for item in codes or ():
            if isinstance(item, Code):
                if item.code is not None:
                    keys.append((item.system, item.code))
            elif isinstance(item, Concept):
                keys.extend((c.system, c.code) for c in item.codes if c.code is not None)
            else:
                return everything
        return self._union(index, keys)

    # -- internals ----------------------------------------------------------------------------------------

    def _code_index(self, resource_type: str, path: str) -> dict[_CodeKey, list[dict[str, Any]]]:
        index = self._by_code.get(resource_type)
        if index is not None:
            return index
        index = {}
        json_keys = [(key, key.endswith("Reference")) for key in _CODE_KEYS.get(path, (path,))]
        for resource in self._by_type.get(resource_type, ()):
            seen: set[_CodeKey] | None = None
            for json_key, is_reference in json_keys:
                value = resource.get(json_key)
                if value is None:
                    continue
                if is_reference:
                    target = self.get(value, within=resource)
                    value = target.get("code") if target is not None else None
                # The common shape (a CodeableConcept with a coding list) without the generic walk.
                codings = value.get("coding") if type(value) is dict else None
                for coding in codings if type(codings) is list else _codings(value):
                    if type(coding) is not dict:
                        continue
                    code = coding.get("code")
                    if type(code) is not str:
                        continue
                    system = coding.get("system")
                    key = (system if type(system) is str else None, code)
                    if seen is None:
                        seen = {key}
                    elif key in seen:
                        continue
                    else:
                        seen.add(key)
                    holders = index.get(key)
                    if holders is None:
                        index[key] = [resource]
                    else:
                        holders.append(resource)
        self._by_code[resource_type] = index
        return index

    def _union(self, index: dict[_CodeKey, list[dict[str, Any]]], keys: Iterable[_CodeKey]) -> list[dict[str, Any]]:
        groups = [index[key] for key in dict.fromkeys(keys) if key in index]
        if not groups:
            return []
        if len(groups) == 1:
            return list(groups[0])
        chosen = {id(resource) for group in groups for resource in group}
        # Record order, not key order: results must not depend on how the value set lists its codes.
        return [resource for resource in self._by_type_of(groups) if id(resource) in chosen]

    def _by_type_of(self, groups: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return self._by_type.get(str(groups[0][0].get("resourceType")), [])

    def _valueset_matches(self, resource_type: str, index: dict[_CodeKey, list[dict[str, Any]]],
                          valueset: ValueSet) -> list[dict[str, Any]]:
        # The record has far fewer distinct codes than a value set has members, and asking the value set
        # about each distinct code also honours its prefix filters (`M80.*`), which cannot be enumerated.
        cache_key = (resource_type, id(valueset))
        cached = self._vs_cache.get(cache_key)
        if cached is not None and cached[0] is valueset:
            return cached[1]
        keys = [key for key in index if valueset.contains(Code(key[1], key[0]))]
        result = self._union(index, keys)
        self._vs_cache[cache_key] = (valueset, result)
        return result


def _flatten(resources: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Resources, with Bundles (searchset, collection) opened into their entries."""
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "Bundle":
            yield from _flatten(entry.get("resource") for entry in resource.get("entry") or ()
                                if isinstance(entry, dict))
        else:
            yield resource
