"""Property: whatever a service builds, a Card that validates serialises without null/empty optionals and round-trips."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds_service.wire import Card

EMPTY = st.sampled_from([None, "", [], {}])
text = st.one_of(EMPTY, st.text(min_size=1, max_size=160))
coding = st.fixed_dictionaries({"system": st.sampled_from(["https://e.org/cs", ""]), "code": st.text(max_size=5)},
                               optional={"display": text})
action = st.fixed_dictionaries(
    {"type": st.sampled_from(["create", "update", "delete"]), "description": text},
    optional={"resource": st.one_of(EMPTY, st.just({"resourceType": "ServiceRequest", "status": "draft"})),
              "resourceId": st.one_of(EMPTY, st.just("ServiceRequest/d-1"), st.just("d-1"))})
suggestion = st.fixed_dictionaries({"label": text},
                                   optional={"isRecommended": st.one_of(st.none(), st.booleans()),
                                             "actions": st.one_of(EMPTY, st.lists(action, max_size=2))})
link = st.fixed_dictionaries({"label": text, "url": st.sampled_from(["https://e.org/x", "rel/x"]),
                              "type": st.sampled_from(["absolute", "smart"])}, optional={"appContext": text})
card = st.fixed_dictionaries(
    {"summary": text, "indicator": st.sampled_from(["info", "warning", "critical", "hard-stop"]),
     "source": st.fixed_dictionaries({"label": text}, optional={"topic": st.one_of(st.none(), coding)})},
    optional={"detail": text, "suggestions": st.one_of(EMPTY, st.lists(suggestion, max_size=3)),
              "selectionBehavior": st.one_of(st.none(), st.sampled_from(["any", "at-most-one"])),
              "overrideReasons": st.one_of(EMPTY, st.lists(coding, max_size=2)),
              "links": st.one_of(EMPTY, st.lists(link, max_size=2))})


def _no_empties(value: Any, path: str = "card") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert item not in (None, "", [], {}), f"{path}.{key} is empty"
            if key != "resource":  # a FHIR resource is the service's payload, passed through as given
                _no_empties(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_empties(item, f"{path}[{index}]")


@settings(max_examples=300, deadline=None)
@given(card)
def test_valid_cards_serialise_without_empties_and_round_trip(data: dict[str, Any]) -> None:
    try:
        built = Card.model_validate(data)
    except ValidationError:
        return  # refused input is the other half of the contract (see test_cards.py)
    body = built.to_json()
    _no_empties(body)
    assert len(body["summary"]) < 140
    if "suggestions" in body:
        assert body["selectionBehavior"] in ("any", "at-most-one")
        if body["selectionBehavior"] == "at-most-one":
            assert sum(1 for s in body["suggestions"] if s.get("isRecommended")) <= 1
    for reason in body.get("overrideReasons", []):
        assert reason["display"]
    for each in body.get("links", []):
        assert "appContext" not in each or each["type"] == "smart"
    assert Card.model_validate(json.loads(json.dumps(body))).to_json() == body
