"""APP edge: `POST /fhir/$cql` (FHIR Parameters in and out), encoded the way the HL7 cql-tests-runner reads it.

In: `expression` (valueString), optional `data` (a Bundle, read as the patient record), `parameters` (a nested
Parameters of CQL parameter values) and `subject` (`Patient/x`). Out: one `return` per value (a list is one
per element), null as `_valueBoolean` with data-absent-reason, tuples and intervals as parts. Bad input is a
400 OperationOutcome naming the field; an expression that does not compile is a 400 naming `expression`; a
run-time error is a 200 carrying an `evaluation error` parameter, as the runner expects.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, request

from cds_service.cql import CompiledLibrary, EvaluationContext, LibraryManager, evaluate_expression
from cds_service.cql.errors import CqlError, CqlEvaluationError, CqlSemanticError, CqlSyntaxError
from cds_service.cql.fhirmodel import FHIR_MODEL, FhirElement
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple
from cds_service.cql.types.values import format_decimal
from cds_service.errors import BadRequestError, CdsServiceError
from cds_service.fhir.record import PatientRecord

log = logging.getLogger(__name__)

bp = Blueprint("cqlapi", __name__)

FHIR_JSON = "application/fhir+json"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
EMPTY_LIST = "http://hl7.org/fhir/StructureDefinition/cqf-isEmptyList"
EMPTY_TUPLE = "http://hl7.org/fhir/StructureDefinition/cqf-isEmptyTuple"
CQL_TYPE = "http://hl7.org/fhir/StructureDefinition/cqf-cqlType"

_QUANTITY_CALENDAR_WORDS = frozenset({
    "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours", "minute", "minutes",
    "second", "seconds", "millisecond", "milliseconds",
})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]*$")


# --- request reading --------------------------------------------------------------------------------------


def _parameters_of(body: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequestError("must be a FHIR Parameters resource", field=field)
    params = body.get("parameter", [])
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise BadRequestError("must be a list of parameter objects", field=f"{field}.parameter")
    return params


def _value_key(param: dict[str, Any]) -> str | None:
    for key in param:
        if key.startswith("value") and len(key) > 5 and key[5].isupper():
            return key
    return None


def _cql_value(param: dict[str, Any], field: str) -> tuple[Any, str]:
    """A Parameters.parameter value[x] -> (CQL value, CQL type name for the `parameter` declaration)."""
    key = _value_key(param)
    if key is None:
        if "part" in param or "resource" in param:
            raise BadRequestError("only value[x] parameter values are supported", field=field)
        if isinstance(param.get("_valueBoolean"), dict):
            return None, "Any"
        raise BadRequestError("a parameter needs a value[x]", field=field)
    fhir_type = key[5:]
    raw = param[key]
    simple = {"Boolean": ("boolean", "Boolean"), "Integer": ("integer", "Integer"),
              "UnsignedInt": ("unsignedInt", "Integer"), "PositiveInt": ("positiveInt", "Integer"),
              "Decimal": ("decimal", "Decimal"), "String": ("string", "String"), "Code": ("code", "String"),
              "Uri": ("uri", "String"), "Id": ("id", "String"), "Date": ("date", "Date"),
              "DateTime": ("dateTime", "DateTime"), "Instant": ("instant", "DateTime"), "Time": ("time", "Time"),
              "Quantity": ("Quantity", "Quantity"), "Coding": ("Coding", "Code"),
              "CodeableConcept": ("CodeableConcept", "Concept"), "Period": ("Period", "Interval<DateTime>"),
              "Range": ("Range", "Interval<Quantity>"), "Ratio": ("Ratio", "Ratio")}
    if fhir_type not in simple:
        raise BadRequestError(f"value{fhir_type} is not a supported CQL parameter type", field=f"{field}.{key}")
    model_type, cql_type = simple[fhir_type]
    try:
        value = FHIR_MODEL.to_system(raw, model_type)
    except CqlError as exc:
        raise BadRequestError(f"invalid value: {exc}", field=f"{field}.{key}") from None
    if value is None:
        raise BadRequestError(f"invalid {fhir_type} value", field=f"{field}.{key}")
    return value, cql_type


def _read_request(body: Any) -> tuple[str, dict[str, Any] | None, dict[str, tuple[Any, str]], str | None]:
    params = _parameters_of(body, "Parameters")
    expression: str | None = None
    data: dict[str, Any] | None = None
    cql_params: dict[str, tuple[Any, str]] = {}
    subject: str | None = None
    for index, param in enumerate(params):
        name = param.get("name")
        field = f"parameter[{index}]"
        if name == "expression":
            if not isinstance(param.get("valueString"), str) or not param["valueString"].strip():
                raise BadRequestError("expression must be a non-empty valueString", field=f"{field}.valueString")
            expression = param["valueString"]
        elif name == "data":
            resource = param.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != "Bundle":
                raise BadRequestError("data must carry a Bundle resource", field=f"{field}.resource")
            if not isinstance(resource.get("entry", []), list):
                raise BadRequestError("Bundle.entry must be a list", field=f"{field}.resource.entry")
            data = resource
        elif name == "parameters":
            nested = _parameters_of(param.get("resource"), f"{field}.resource")
            for inner_index, inner in enumerate(nested):
                inner_field = f"{field}.resource.parameter[{inner_index}]"
                inner_name = inner.get("name")
                if not isinstance(inner_name, str) or not _IDENTIFIER.match(inner_name) or '"' in inner_name:
                    raise BadRequestError("parameter name must be a CQL identifier", field=f"{inner_field}.name")
                cql_params[inner_name] = _cql_value(inner, inner_field)
        elif name == "subject":
            value = param.get("valueString", param.get("valueReference", {}).get("reference")
                              if isinstance(param.get("valueReference"), dict) else None)
            if not isinstance(value, str) or not value:
                raise BadRequestError("subject must be a valueString like 'Patient/123'", field=field)
            subject = value
        elif not isinstance(name, str):
            raise BadRequestError("every parameter needs a name", field=f"{field}.name")
        # Other names (e.g. `library`, `useServerData`, `prefetchData`) are optional operation inputs we
        # do not use; ignoring them is what a FHIR server does with unsupported optional parameters.
    if expression is None:
        raise BadRequestError("the expression parameter is required", field="parameter.expression")
    return expression, data, cql_params, subject


def _subject_record(bundle: dict[str, Any] | None, subject: str | None) -> PatientRecord | None:
    if bundle is None:
        return None
    record = PatientRecord.from_bundle(bundle)
    if subject is None:
        return record
    keep = []
    for resource in record.resources:
        if resource.get("resourceType") == "Patient":
            if subject == f"Patient/{resource.get('id')}":
                keep.append(resource)
            continue
        refs = [resource.get(k) for k in ("subject", "patient", "beneficiary")]
        refs = [r.get("reference") for r in refs if isinstance(r, dict)]
        if not refs or subject in refs:
            keep.append(resource)
    return PatientRecord(keep)


def _library_text(expression: str, cql_params: dict[str, tuple[Any, str]], with_data: bool) -> str:
    lines = ["library CqlOperation version '1.0.0'"]
    if with_data:
        lines.append("using FHIR version '4.0.1'")
    for name, (_, cql_type) in cql_params.items():
        lines.append(f'parameter "{name}" {cql_type}')
    if with_data:
        lines.append("context Patient")
    lines.append('define "return":')
    lines.append(expression)
    return "\n".join(lines) + "\n"


def _no_includes(name: str, version: str | None) -> str:
    raise KeyError(f"$cql expressions cannot include libraries ({name})")


_COMPILED: "OrderedDict[str, CompiledLibrary]" = OrderedDict()
_COMPILED_LOCK = threading.Lock()
_COMPILED_SIZE = 128


def _compiled(text: str) -> CompiledLibrary:
    """Compile once per distinct wrapper library (expression + parameter types): a runner or a UI sends the
    same expression with different data and values, and compiling costs far more than evaluating."""
    with _COMPILED_LOCK:
        found = _COMPILED.get(text)
        if found is not None:
            _COMPILED.move_to_end(text)
            return found
    library = LibraryManager(_no_includes).compile_text(text)
    with _COMPILED_LOCK:
        _COMPILED[text] = library
        while len(_COMPILED) > _COMPILED_SIZE:
            _COMPILED.popitem(last=False)
    return library


def evaluate(expression: str, data: dict[str, Any] | None = None,
             parameters: dict[str, tuple[Any, str]] | None = None, subject: str | None = None) -> Any:
    """Evaluate one $cql request (compile errors raise CqlSyntaxError/CqlSemanticError)."""
    record = _subject_record(data, subject)
    if not parameters and record is None:
        return evaluate_expression(expression)
    library = _compiled(_library_text(expression, parameters or {}, record is not None))
    context = EvaluationContext(parameters={name: value for name, (value, _) in (parameters or {}).items()})
    if record is not None:
        context.data = record
    return library.evaluate(context, ["return"])["return"]


# --- response encoding ------------------------------------------------------------------------------------


def _null(name: str) -> dict[str, Any]:
    return {"name": name, "_valueBoolean": {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}}


def _quantity(value: Quantity) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value.value, "unit": value.unit, "code": value.unit}
    if value.unit not in _QUANTITY_CALENDAR_WORDS:
        out["system"] = "http://unitsofmeasure.org"
    return out


def _coding(code: Code) -> dict[str, Any]:
    return {k: v for k, v in (("system", code.system), ("version", code.version), ("code", code.code),
                              ("display", code.display)) if v is not None}


def _cql_type(value: Any) -> str:
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, Long):
        return "System.Long"
    if isinstance(value, int):
        return "System.Integer"
    if isinstance(value, Decimal):
        return "System.Decimal"
    if isinstance(value, str):
        return "System.String"
    for klass in (DateTime, Date, Time, Quantity, Ratio, Code, Concept):
        if isinstance(value, klass):
            return f"System.{klass.__name__}"
    return "System.Any"


def encode(name: str, value: Any) -> list[dict[str, Any]]:
    """One CQL value as Parameters.parameter entries named `name` (several for a list)."""
    if isinstance(value, list):
        if not value:
            return [{"name": name, "_valueBoolean": {"extension": [{"url": EMPTY_LIST, "valueBoolean": True}]}}]
        out: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, list):
                parts = [p for element in item for p in encode("element", element)] if item else \
                    encode("element", [])
                out.append({"name": name, "part": parts})
            else:
                out.extend(encode(name, item))
        return out
    return [_encode_one(name, value)]


def _encode_one(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return _null(name)
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, Long):
        return {"name": name, "valueString": str(int(value)),
                "extension": [{"url": CQL_TYPE, "valueString": "System.Long"}]}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, Decimal):
        return {"name": name, "valueDecimal": value}
    if isinstance(value, str):
        return {"name": name, "valueString": value}
    if isinstance(value, DateTime):
        return {"name": name, "valueDateTime": value.to_cql_string()}
    if isinstance(value, Date):
        return {"name": name, "valueDate": value.to_cql_string()}
    if isinstance(value, Time):
        return {"name": name, "valueTime": value.to_cql_string()}
    if isinstance(value, Quantity):
        return {"name": name, "valueQuantity": _quantity(value)}
    if isinstance(value, Ratio):
        return {"name": name, "valueRatio": {"numerator": _quantity(value.numerator),
                                             "denominator": _quantity(value.denominator)}}
    if isinstance(value, Code):
        return {"name": name, "valueCoding": _coding(value)}
    if isinstance(value, Concept):
        concept: dict[str, Any] = {"coding": [_coding(c) for c in value.codes]}
        if value.display is not None:
            concept["text"] = value.display
        return {"name": name, "valueCodeableConcept": concept}
    if isinstance(value, Interval):
        point = value.point_type or "Any"
        parts = [*encode("low", value.low), *encode("high", value.high),
                 {"name": "lowClosed", "valueBoolean": value.low_closed},
                 {"name": "highClosed", "valueBoolean": value.high_closed}]
        return {"name": name, "extension": [{"url": CQL_TYPE, "valueString": f"Interval<System.{point}>"}],
                "part": parts}
    if isinstance(value, Tuple):
        if len(value) == 0:
            return {"name": name, "_valueBoolean": {"extension": [{"url": EMPTY_TUPLE, "valueBoolean": True}]}}
        return {"name": name, "part": [p for key, item in value.items() for p in encode(key, item)]}
    if isinstance(value, FhirElement):
        if FHIR_MODEL.has_type(value.fhir_type) and "." not in value.fhir_type:
            return {"name": name, f"value{value.fhir_type[0].upper()}{value.fhir_type[1:]}": dict(value)}
        return {"name": name, "part": [p for key, item in value.items() for p in encode(key, item)]}
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return {"name": name, "resource": value}
    if isinstance(value, dict):
        return {"name": name, "part": [p for key, item in value.items() for p in encode(key, item)]}
    raise CqlEvaluationError(f"cannot encode a {type(value).__name__} result as a FHIR parameter")


def _outcome(message: str, field: str | None = None, code: str = "processing") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    if field:
        issue["expression"] = [field]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def dumps(resource: dict[str, Any]) -> str:
    """JSON with Decimals as exact JSON numbers (json would turn them into floats or strings)."""
    decimals: list[str] = []

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            decimals.append(format_decimal(value))
            return f"\u0000dec{len(decimals) - 1}\u0000"
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    text = json.dumps(resource, default=default, ensure_ascii=False)
    if decimals:
        text = re.sub(r'"\\u0000dec(\d+)\\u0000"', lambda m: decimals[int(m.group(1))], text)
    return text


def _fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    return Response(dumps(resource), status=status, mimetype=FHIR_JSON)


@bp.errorhandler(CdsServiceError)
def _service_error(error: CdsServiceError) -> Response:
    return _fhir_response(error.operation_outcome(), error.status)


@bp.post("/fhir/$cql")
def cql_operation() -> Response:
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise BadRequestError("the body must be a JSON FHIR Parameters resource", field="body")
    expression, data, cql_params, subject = _read_request(body)
    try:
        value = evaluate(expression, data, cql_params, subject)
    except CqlSyntaxError as exc:
        outcome = _outcome(f"syntax error at line {exc.line}, column {exc.column}: {exc.message}",
                           "expression", "invalid")
        return _fhir_response(outcome, 400)
    except CqlSemanticError as exc:
        return _fhir_response(_outcome(f"semantic error: {exc.message}", "expression", "invalid"), 400)
    except CqlError as exc:
        # The expression compiled but failed when run: the runner reads this as an expected error.
        log.info("$cql evaluation error: %s", type(exc).__name__)
        return _fhir_response({"resourceType": "Parameters", "parameter": [
            {"name": "evaluation error", "resource": _outcome(str(getattr(exc, "message", exc)))}]})
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        # An engine defect must still answer in the operation's shape, never as an HTML 500.
        log.warning("$cql engine failure: %s", type(exc).__name__)
        return _fhir_response({"resourceType": "Parameters", "parameter": [
            {"name": "evaluation error", "resource": _outcome(f"engine failure ({type(exc).__name__})")}]})
    try:
        parameters = encode("return", value)
    except CqlError as exc:
        return _fhir_response({"resourceType": "Parameters", "parameter": [
            {"name": "evaluation error", "resource": _outcome(str(getattr(exc, "message", exc)))}]})
    return _fhir_response({"resourceType": "Parameters", "parameter": parameters})
