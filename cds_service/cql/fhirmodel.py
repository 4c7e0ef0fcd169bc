"""ENGINE model: property access, implicit FHIRHelpers conversions and is/as over FHIR R4 JSON dicts.

The engine never sees fhir.resources: element types come from `fhir_r4_types.json`, generated from the R4B
models by `cds_service.fhir.modelinfo`. Navigation follows FHIRPath (lists flatten, absent is null) and the
result is already a System value where FHIRHelpers 4.0.1 would convert implicitly, so `O.value < 5 'mg'`,
`O.code ~ "LOINC code"` and `O.effective during Interval[...]` need no explicit ToQuantity/ToConcept calls.

Decisions where FHIRHelpers raises: a Quantity with a `comparator` ("<0.5") or a non-UCUM system converts to
null (the rule then sees the value as missing and says so on a card, instead of failing the whole hook).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, NamedTuple

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple

# Located through the package, not __file__: this module may be the compiled build (cds_service/accel.py).
TYPES_FILE = Path(str(resources.files("cds_service.cql").joinpath("fhir_r4_types.json")))

UCUM = "http://unitsofmeasure.org"
_CALENDAR_UNITS_SYSTEM = "http://hl7.org/fhirpath/CodeSystem/calendar-units"
# FHIRHelpers.ToCalendarUnit: UCUM duration codes become CQL calendar words.
_CALENDAR_UNITS = {"ms": "millisecond", "s": "second", "min": "minute", "h": "hour", "d": "day",
                   "wk": "week", "mo": "month", "a": "year"}

# The code path a `[Type: "Value Set"]` retrieve filters on (FHIR ModelInfo primaryCodePath for R4).
PRIMARY_CODE_PATHS: dict[str, str] = {
    "AllergyIntolerance": "code",
    "CarePlan": "category",
    "Condition": "code",
    "Coverage": "type",
    "DeviceRequest": "code",
    "DiagnosticReport": "code",
    "DocumentReference": "type",
    "Encounter": "type",
    "FamilyMemberHistory": "relationship",
    "Goal": "category",
    "ImagingStudy": "procedureCode",
    "Immunization": "vaccineCode",
    "Medication": "code",
    "MedicationAdministration": "medication",
    "MedicationRequest": "medication",
    "MedicationStatement": "medication",
    "Observation": "code",
    "Procedure": "code",
    "ServiceRequest": "code",
}

_STRING_TYPES = frozenset({"string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown",
                           "base64Binary", "xhtml"})
_INTEGER_TYPES = frozenset({"integer", "unsignedInt", "positiveInt"})
_QUANTITY_TYPES = frozenset({"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity",
                             "MoneyQuantity"})
_DATETIME_TYPES = frozenset({"dateTime", "instant"})
_SYSTEM_NAMES = frozenset({"Any", "Boolean", "Integer", "Long", "Decimal", "String", "Date", "DateTime",
                           "Time", "Quantity", "Ratio", "Code", "Concept"})

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TIME_RE = re.compile(r"^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$")


class FhirElement(dict):  # type: ignore[type-arg]
    """A non-resource FHIR element (Reference, Identifier, Observation.component...) that knows its type.

    A dict subclass so code that treats FHIR data as plain JSON keeps working; the type is what lets the
    next navigation step resolve choice elements and convert primitives.
    """

    __slots__ = ("fhir_type",)

    def __init__(self, fhir_type: str = "Element", data: dict[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.fhir_type = fhir_type

    def __reduce__(self) -> tuple[Any, ...]:
        # copy/deepcopy/pickle keep the FHIR type (the default dict-subclass protocol would drop it).
        return (FhirElement, (self.fhir_type, dict(self)))

    def __repr__(self) -> str:
        return f"FHIR.{self.fhir_type}({dict.__repr__(self)})"


class ElementInfo(NamedTuple):
    """Compile-time description of one element: its FHIR type(s) and cardinality."""

    name: str
    types: tuple[str, ...]  # one type, or the choice types of a `[x]` element
    is_list: bool
    is_choice: bool


# --- conversions of FHIR JSON values to System values ---------------------------------------------------


def _millis(fraction: str | None) -> int | None:
    if fraction is None:
        return None
    return int((fraction + "00")[:3])


def _offset(text: str | None) -> Decimal | None:
    if text is None:
        return None
    if text == "Z":
        return Decimal(0)
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    value = Decimal(hours) + Decimal(minutes) / Decimal(60)
    return sign * (value if minutes % 60 else Decimal(hours))


@lru_cache(maxsize=8192)
def parse_date(text: str) -> Date | None:
    """FHIR date -> Date; a malformed value in the record is unknown (null), never a failed evaluation."""
    match = _DATE_RE.match(text)
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        return Date(int(year), int(month) if month else None, int(day) if day else None)
    except CqlEvaluationError:  # e.g. 2026-13-45: the shape is right, the calendar is not
        return None


@lru_cache(maxsize=8192)
def parse_datetime(text: str) -> DateTime | None:
    """FHIR dateTime/instant -> DateTime at the precision written; an hour without a timezone keeps None.

    A malformed value in the record (wrong shape or an impossible calendar date) is null: the record's
    data quality must not fail the evaluation, and the logic then treats the value as missing."""
    match = _DATETIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        return DateTime(
            int(year), int(month) if month else None, int(day) if day else None,
            int(hour) if hour else None, int(minute) if minute else None, int(second) if second else None,
            _millis(fraction) if second else None, _offset(zone),
        )
    except CqlEvaluationError:
        return None


@lru_cache(maxsize=1024)
def parse_time(text: str) -> Time | None:
    match = _TIME_RE.match(text)
    if match is None:
        return None
    hour, minute, second, fraction = match.groups()
    try:
        return Time(int(hour), int(minute) if minute else None, int(second) if second else None,
                    _millis(fraction) if second else None)
    except CqlEvaluationError:
        return None


def _decimal(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        return raw
    try:
        # str() first: a JSON float 0.1 must become Decimal('0.1'), not its binary expansion.
        value = Decimal(str(raw))
    except InvalidOperation:
        return None  # a malformed decimal in the record is unknown, like a malformed date
    return value if value.is_finite() else None


def to_quantity(raw: Any) -> Quantity | None:
    """FHIRHelpers.ToQuantity (null instead of an error for comparators and non-UCUM systems)."""
    if not isinstance(raw, dict):
        return raw if isinstance(raw, Quantity) else None
    number = raw.get("value")
    value = Decimal(number) if type(number) is int else _decimal(number)
    if value is None or raw.get("comparator") is not None:
        return None
    system = raw.get("system")
    if system is not None and system not in (UCUM, _CALENDAR_UNITS_SYSTEM):
        return None
    unit = raw.get("code") or raw.get("unit") or "1"
    return Quantity(value, _CALENDAR_UNITS.get(unit, unit))


def to_code(raw: Any) -> Code | None:
    if not isinstance(raw, dict):
        return raw if isinstance(raw, Code) else None
    return Code(raw.get("code"), raw.get("system"), raw.get("version"), raw.get("display"))


def to_concept(raw: Any) -> Concept | None:
    if not isinstance(raw, dict):
        return raw if isinstance(raw, Concept) else None
    codings = raw.get("coding") or ()
    return Concept(tuple(Code(c.get("code"), c.get("system"), c.get("version"), c.get("display"))
                         for c in codings if isinstance(c, dict)), raw.get("text"))


def to_interval_period(raw: Any) -> Interval | None:
    """FHIRHelpers.ToInterval(Period): a missing start is an unknown (open) low, a missing end is unbounded."""
    if not isinstance(raw, dict):
        return raw if isinstance(raw, Interval) else None
    start, end = raw.get("start"), raw.get("end")
    low = parse_datetime(start) if isinstance(start, str) else None
    high = parse_datetime(end) if isinstance(end, str) else None
    return Interval(low, high, start is not None, True, "DateTime")


def to_interval_range(raw: Any) -> Interval | None:
    if not isinstance(raw, dict):
        return raw if isinstance(raw, Interval) else None
    return Interval(to_quantity(raw.get("low")), to_quantity(raw.get("high")), True, True, "Quantity")


def to_ratio(raw: Any) -> Ratio | None:
    if not isinstance(raw, dict):
        return raw if isinstance(raw, Ratio) else None
    numerator, denominator = to_quantity(raw.get("numerator")), to_quantity(raw.get("denominator"))
    if numerator is None or denominator is None:
        return None
    return Ratio(numerator, denominator)


def _to_int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None


def _to_str(raw: Any) -> str | None:
    return raw if isinstance(raw, str) else None


def _to_bool(raw: Any) -> bool | None:
    return raw if isinstance(raw, bool) else None


def _str_then(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def convert(raw: Any) -> Any:
        return parse(raw) if isinstance(raw, str) else None

    return convert


def _to_long(raw: Any) -> Long | None:
    value = _to_int(raw)
    return None if value is None else Long(value)


# The converter of plain string elements (code, id, uri...): its values need no conversion.
STRING_CONVERTER = _to_str

_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _to_bool,
    "decimal": _decimal,
    "integer64": _to_long,
    "date": _str_then(parse_date),
    "dateTime": _str_then(parse_datetime),
    "instant": _str_then(parse_datetime),
    "time": _str_then(parse_time),
    "CodeableConcept": to_concept,
    "Coding": to_code,
    "Period": to_interval_period,
    "Range": to_interval_range,
    "Ratio": to_ratio,
}
_CONVERTERS.update({name: _to_str for name in _STRING_TYPES})
_CONVERTERS.update({name: _to_int for name in _INTEGER_TYPES})
_CONVERTERS.update({name: to_quantity for name in _QUANTITY_TYPES})


def _resource_value(raw: Any) -> Any:
    return raw if isinstance(raw, dict) else None


def _element_converter(fhir_type: str) -> Callable[[Any], Any]:
    def wrap(raw: Any) -> Any:
        if isinstance(raw, FhirElement) or not isinstance(raw, dict):
            return raw if isinstance(raw, dict) else None
        return FhirElement(fhir_type, raw)

    return wrap


# --- navigation on values that are already System values ------------------------------------------------


def _system_property(value: Any, name: str) -> Any:
    """`O.value.unit`, `O.code.coding`, `P.effective.start`: FHIR element names on converted values."""
    if isinstance(value, Quantity):
        if name == "value":
            return value.value
        if name in ("unit", "code"):
            return value.unit
        if name == "system":
            return UCUM
        return None
    if isinstance(value, Concept):
        if name == "coding":
            return list(value.codes)
        if name == "text":
            return value.display
        return None
    if isinstance(value, Code):
        if name in ("code", "system", "version", "display"):
            return getattr(value, name)
        return None
    if isinstance(value, Interval):
        if name in ("start", "low"):
            return value.low
        if name in ("end", "high"):
            return value.high
        if name == "lowClosed":
            return value.low_closed
        if name == "highClosed":
            return value.high_closed
        return None
    if isinstance(value, Ratio):
        if name in ("numerator", "denominator"):
            return getattr(value, name)
        return None
    if isinstance(value, Tuple):
        return value.get(name)
    if name == "value":
        # FHIR primitives are already their System value: `P.birthDate.value` is `P.birthDate`.
        return value
    return None


_FastEntry = tuple[str | None, Callable[[Any], Any], bool, tuple[tuple[str, Callable[[Any], Any]], ...]]


class _Accessor(NamedTuple):
    keys: tuple[tuple[str, Callable[[Any], Any]], ...]  # JSON key -> converter; several for a choice
    is_list: bool


class FhirModel:
    """The FHIR R4 model as the engine needs it; one shared instance, `FHIR_MODEL`, is loaded at import."""

    def __init__(self, table: dict[str, Any]) -> None:
        self._types: dict[str, dict[str, Any]] = table["types"]
        self._accessors: dict[str, dict[str, _Accessor | None]] = {}
        self._fast: dict[str, dict[str, _FastEntry]] = {}
        self._bases: dict[str, tuple[str, ...]] = {}
        for name in self._types:
            chain: list[str] = [name]
            base = self._types[name].get("base")
            while base:
                chain.append(base)
                base = self._types.get(base, {}).get("base")
            if self._types[name]["kind"] == "resource":
                chain.extend(t for t in ("DomainResource", "Resource") if t not in chain)
            self._bases[name] = tuple(chain)

    @classmethod
    def load(cls, path: Path = TYPES_FILE) -> "FhirModel":
        return cls(json.loads(path.read_text(encoding="utf-8")))

    # -- compile time -----------------------------------------------------------------------------------

    def has_type(self, type_name: str) -> bool:
        name = _strip_namespace(type_name)
        return name in self._types or name in ("Resource", "DomainResource") or name in _CONVERTERS

    def is_resource_type(self, type_name: str) -> bool:
        info = self._types.get(_strip_namespace(type_name))
        return info is not None and info["kind"] == "resource"

    def element(self, type_name: str, name: str) -> ElementInfo | None:
        """The element `name` of `type_name` (None when the type has no such element)."""
        info = self._types.get(_strip_namespace(type_name))
        if info is None:
            return None
        element = info["elements"].get(name)
        if element is None:
            return None
        if "choice" in element:
            return ElementInfo(name, tuple(element["choice"]), False, True)
        return ElementInfo(name, (element["type"],), bool(element["list"]), False)

    def primary_code_path(self, resource_type: str) -> str | None:
        return PRIMARY_CODE_PATHS.get(_strip_namespace(resource_type))

    # -- run time ---------------------------------------------------------------------------------------

    def type_of(self, value: Any) -> str | None:
        """The FHIR type name of a resource dict or FhirElement (None for anything else)."""
        if isinstance(value, FhirElement):
            return value.fhir_type
        if isinstance(value, dict):
            resource_type = value.get("resourceType")
            return resource_type if isinstance(resource_type, str) else None
        return None

    def get_property(self, value: Any, name: str) -> Any:
        """`value.name` in FHIRPath terms: null-safe, flattening over lists, converted to System values."""
        # Hot path of every query (`O.status`, `O.value` per resource): exact type checks and one flat cache
        # lookup first; ABC isinstance checks (Tuple is a Mapping) only for the rare non-dict values.
        kind = type(value)
        if kind is dict:
            type_name = value.get("resourceType")
        elif kind is FhirElement:
            type_name = value.fhir_type
        elif value is None:
            return None
        elif kind is list:
            out: list[Any] = []
            for item in value:
                got = self.get_property(item, name)
                if got is None:
                    continue
                if type(got) is list:
                    out.extend(got)
                else:
                    out.append(got)
            return out
        elif isinstance(value, dict) and not isinstance(value, Tuple):
            type_name = value.get("resourceType")
        else:
            return _system_property(value, name)
        per_type = self._fast.get(type_name)
        entry = per_type.get(name) if per_type is not None else None
        if entry is None:
            entry = self._fast_entry(type_name, name)
            if entry is None:
                return self._untyped_property(value, name)
        key, convert, is_list, keys = entry
        if key is not None:
            raw = value.get(key)
            if raw is None:
                return [] if is_list else None
            if convert is _to_str and type(raw) is str:
                return raw
            if is_list or type(raw) is list:
                return self._convert(raw, convert, is_list)
            return convert(raw)
        for key, convert in keys:
            raw = value.get(key)
            if raw is not None:
                return self._convert(raw, convert, is_list)
        return [] if is_list else None

    def _fast_entry(self, type_name: Any, name: str) -> _FastEntry | None:
        """(json key or None for a choice, converter, is_list, all keys) for `type_name.name`, memoised."""
        if not isinstance(type_name, str):
            return None
        accessor = self._accessor(type_name, name)
        if accessor is None:
            return None
        single = accessor.keys[0] if len(accessor.keys) == 1 else (None, _to_str)
        entry: _FastEntry = (single[0], single[1], accessor.is_list, accessor.keys)
        self._fast.setdefault(type_name, {})[name] = entry
        return entry

    @staticmethod
    def _convert(raw: Any, convert: Callable[[Any], Any], is_list: bool) -> Any:
        if is_list or type(raw) is list:
            # (a singular element sent as an array by a sloppy client is still navigated, as FHIRPath would)
            items = raw if type(raw) is list else [raw]
            return [converted for converted in map(convert, items) if converted is not None]
        return convert(raw)

    property = get_property

    def getter(self, type_name: str | None, name: str) -> Callable[[Any], Any]:
        """`value.name` compiled for values statically typed `type_name` (e.g. a query alias over
        `[Observation]`): one dict lookup on the hot path; anything else falls back to `get_property`."""
        generic = self.get_property
        resource_type = _strip_namespace(type_name) if type_name else None
        accessor = self._accessor(resource_type, name) if resource_type and self.is_resource_type(resource_type) \
            else None
        if accessor is None or len(accessor.keys) != 1 or accessor.is_list:
            return lambda value: generic(value, name)
        key, convert = accessor.keys[0]
        plain_string = convert is _to_str

        def get(value: Any) -> Any:
            if type(value) is dict and value.get("resourceType") == resource_type:
                raw = value.get(key)
                if raw is None:
                    return None
                kind = type(raw)
                if kind is str and plain_string:
                    return raw
                if kind is not list:
                    return convert(raw)
            return generic(value, name)

        return get

    def element_keys(self, type_name: str | None, name: str) -> tuple[str, tuple[tuple[str, Callable[[Any], Any]], ...], bool] | None:
        """(resource type, (JSON key, converter) pairs, is_list) of `type_name.name` when `type_name` is a
        resource type that has the element: what `get_property` uses for a dict of that resourceType, so a
        compiled reader can apply it directly. None when the model cannot say statically."""
        resource_type = _strip_namespace(type_name) if type_name else None
        if not resource_type or not self.is_resource_type(resource_type):
            return None
        accessor = self._accessor(resource_type, name)
        if accessor is None:
            return None
        return resource_type, accessor.keys, accessor.is_list

    def path(self, value: Any, dotted: str) -> Any:
        """`value.a.b.c`; a primitive's extensions are reachable as `birthDate.extension` (JSON `_birthDate`)."""
        parent: Any = None
        current = value
        previous = ""
        for part in dotted.split("."):
            if part in ("extension", "id") and parent is not None and not isinstance(current, (dict, list)):
                current = self.primitive_extension(parent, previous, part)
            else:
                parent, current = current, self.get_property(current, part)
            previous = part
        return current

    def primitive_extension(self, parent: Any, name: str, what: str = "extension") -> Any:
        """Extensions (or id) on a primitive element: FHIR JSON keeps them under `_name`."""
        if not isinstance(parent, dict):
            return [] if what == "extension" else None
        accessor = self._accessor(self.type_of(parent) or "", name)
        keys = [key for key, _ in accessor.keys] if accessor is not None else [name]
        for key in keys:
            shadow = parent.get("_" + key)
            if isinstance(shadow, dict):
                if what == "id":
                    return shadow.get("id")
                return [FhirElement("Extension", ext) for ext in shadow.get("extension", ()) if isinstance(ext, dict)]
        return [] if what == "extension" else None

    def to_system(self, raw: Any, fhir_type: str) -> Any:
        """The implicit FHIRHelpers conversion of a raw FHIR JSON value of `fhir_type`."""
        return self._converter(_strip_namespace(fhir_type))(raw)

    def is_type(self, value: Any, type_name: str) -> bool:
        """`value is T` for FHIR (`FHIR.Observation`, `Quantity`, `dateTime`) and System type names."""
        if value is None:
            return False
        qualified = type_name.startswith("System.")
        name = _strip_namespace(type_name)
        fhir_type = self.type_of(value)
        if fhir_type is not None:
            return name in self._bases.get(fhir_type, (fhir_type,)) or name in ("Element", "Any")
        if name == "Any":
            return True
        if qualified or (name in _SYSTEM_NAMES and name not in self._types):
            return _system_is(value, name)
        return _fhir_is(value, name)

    def as_type(self, value: Any, type_name: str, strict: bool = False) -> Any:
        """`value as T` (null when it is not a T) or `cast value as T` (strict: an error instead)."""
        if value is None:
            return None
        if isinstance(value, list):
            return [item for item in value if self.is_type(item, type_name)] if not strict else \
                [self.as_type(item, type_name, True) for item in value]
        if self.is_type(value, type_name):
            return value
        if strict:
            raise CqlEvaluationError(f"cannot cast a value of type {self.describe(value)} as {type_name}")
        return None

    def describe(self, value: Any) -> str:
        return self.type_of(value) or type(value).__name__

    # -- internals --------------------------------------------------------------------------------------

    def _converter(self, fhir_type: str) -> Callable[[Any], Any]:
        converter = _CONVERTERS.get(fhir_type)
        if converter is not None:
            return converter
        if fhir_type in ("Resource", "DomainResource") or self.is_resource_type(fhir_type):
            return _resource_value
        return _element_converter(fhir_type)

    def _accessor(self, type_name: str, name: str) -> _Accessor | None:
        per_type = self._accessors.get(type_name)
        if per_type is None:
            per_type = self._accessors[type_name] = {}
        if name not in per_type:
            per_type[name] = self._build_accessor(type_name, name)
        return per_type[name]

    def _build_accessor(self, type_name: str, name: str) -> _Accessor | None:
        info = self._types.get(type_name)
        if info is None:
            return None
        element = info["elements"].get(name)
        if element is None:
            return None
        if "choice" in element:
            keys = tuple((key, self._converter(choice_type)) for choice_type, key in element["choice"].items())
            return _Accessor(keys, False)
        return _Accessor(((name, self._converter(element["type"])),), bool(element["list"]))

    def _untyped_property(self, value: dict[str, Any], name: str) -> Any:
        """A dict of unknown type (a resource type outside the table): navigate by shape, convert by suffix."""
        raw = value.get(name)
        if raw is not None:
            return _shape_convert(raw)
        prefix_len = len(name)
        for key, raw in value.items():
            if key.startswith(name) and len(key) > prefix_len and key[prefix_len].isupper():
                suffix = key[prefix_len:]
                fhir_type = suffix if suffix in self._types or suffix in _CONVERTERS else suffix[0].lower() + suffix[1:]
                return self.to_system(raw, fhir_type)
        return None


def _shape_convert(raw: Any) -> Any:
    if isinstance(raw, list):
        return [item for item in map(_shape_convert, raw) if item is not None]
    if isinstance(raw, float):
        return _decimal(raw)
    if isinstance(raw, dict) and "resourceType" not in raw and not isinstance(raw, FhirElement):
        if "coding" in raw:
            return to_concept(raw)
        return raw
    return raw


def _strip_namespace(type_name: str) -> str:
    for prefix in ("FHIR.", "System.", "{http://hl7.org/fhir}", "{urn:hl7-org:elm-types:r1}"):
        if type_name.startswith(prefix):
            return type_name[len(prefix):]
    return type_name


_SYSTEM_CLASSES: dict[str, type | tuple[type, ...]] = {
    "Boolean": bool, "Long": Long, "Decimal": Decimal, "String": str, "Date": Date, "DateTime": DateTime,
    "Time": Time, "Quantity": Quantity, "Ratio": Ratio, "Code": Code, "Concept": Concept,
}


def _system_is(value: Any, name: str) -> bool:
    if name == "Integer":  # bool and Long are ints to Python, not Integers to CQL
        return isinstance(value, int) and not isinstance(value, (bool, Long))
    cls = _SYSTEM_CLASSES.get(name)
    if cls is None:
        return name == "Any"
    return isinstance(value, cls)


def fhir_type_accepts(value: Any, name: str) -> bool:
    """`value is name` for a converted System value (not a resource or element) and a FHIR type name."""
    return _fhir_is(value, name)


def _fhir_is(value: Any, name: str) -> bool:
    """A converted System value against a FHIR type name: the FHIR types that convert to its class."""
    if isinstance(value, bool):
        return name == "boolean"
    if isinstance(value, Long):
        return name == "integer64"
    if isinstance(value, int):
        return name in _INTEGER_TYPES
    if isinstance(value, Decimal):
        return name == "decimal"
    if isinstance(value, str):
        return name in _STRING_TYPES
    if isinstance(value, DateTime):
        return name in _DATETIME_TYPES
    if isinstance(value, Date):
        return name == "date"
    if isinstance(value, Time):
        return name == "time"
    if isinstance(value, Quantity):
        return name in _QUANTITY_TYPES
    if isinstance(value, Concept):
        return name == "CodeableConcept"
    if isinstance(value, Code):
        return name == "Coding"
    if isinstance(value, Ratio):
        return name == "Ratio"
    if isinstance(value, Interval):
        return (name == "Period" and value.point_type == "DateTime") or (name == "Range" and value.point_type == "Quantity")
    return False


FHIR_MODEL = FhirModel.load()
