"""Wire models against the CDS Hooks 2.0 checklist (cds-hooks.md section 4): what a client would reject."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from cds_service.wire import Action, Card, CdsResponse, Coding, Link, Source, Suggestion

SOURCE = {"label": "VA advisor", "topic": {"system": "https://example.org/topics", "code": "va"}}


def card(**overrides: Any) -> Card:
    fields: dict[str, Any] = {"summary": "Suggested technique at L1: SpineJack", "indicator": "info",
                              "source": SOURCE}
    fields.update(overrides)
    return Card.model_validate(fields)


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_walk(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_walk(v))
    return out


def test_minimal_card_gets_a_uuid_and_serialises_camel_case() -> None:
    body = card().to_json()
    assert uuid.UUID(body["uuid"])
    assert body == {"uuid": body["uuid"], "summary": "Suggested technique at L1: SpineJack", "indicator": "info",
                    "source": SOURCE}


def test_no_null_or_empty_optional_element_is_ever_serialised() -> None:
    body = card(detail="", links=[], overrideReasons=[], suggestions=None, selectionBehavior=None).to_json()
    assert all(v not in (None, "", [], {}) for v in _walk(body)), body
    assert set(body) == {"uuid", "summary", "indicator", "source"}


@pytest.mark.parametrize("length,ok", [(139, True), (140, False)])
def test_summary_must_be_shorter_than_140_characters(length: int, ok: bool) -> None:
    if ok:
        assert len(card(summary="x" * length).summary) == length
    else:
        with pytest.raises(ValidationError, match="summary"):
            card(summary="x" * length)


@pytest.mark.parametrize("indicator", ["hard-stop", "success", "Critical", ""])
def test_indicator_is_info_warning_or_critical_only(indicator: str) -> None:
    with pytest.raises(ValidationError, match="indicator"):
        card(indicator=indicator)


def test_source_label_is_required_and_urls_must_be_absolute() -> None:
    with pytest.raises(ValidationError, match="label"):
        card(source={"url": "https://example.org"})
    with pytest.raises(ValidationError, match="absolute"):
        card(source={"label": "x", "icon": "/static/icon.png"})


def test_suggestions_require_selection_behavior_and_get_uuids() -> None:
    suggestion = {"label": "Order MRI lumbar spine"}
    with pytest.raises(ValidationError, match="selectionBehavior is required"):
        card(suggestions=[suggestion])
    body = card(suggestions=[suggestion], selectionBehavior="any").to_json()
    assert uuid.UUID(body["suggestions"][0]["uuid"])
    assert body["selectionBehavior"] == "any"


def test_selection_behavior_without_suggestions_is_refused() -> None:
    with pytest.raises(ValidationError, match="only allowed on a card with suggestions"):
        card(selectionBehavior="any")


def test_at_most_one_allows_only_one_recommended_suggestion() -> None:
    two = [{"label": "A", "isRecommended": True}, {"label": "B", "isRecommended": True}]
    with pytest.raises(ValidationError, match="at most one suggestion"):
        card(suggestions=two, selectionBehavior="at-most-one")
    assert len(card(suggestions=two, selectionBehavior="any").suggestions or []) == 2


def test_override_reasons_need_display_and_codings_need_system_and_code() -> None:
    with pytest.raises(ValidationError, match="needs a display"):
        card(overrideReasons=[{"system": "https://example.org/o", "code": "mdt"}])
    with pytest.raises(ValidationError, match="system"):
        Coding.model_validate({"code": "x"})
    body = card(overrideReasons=[{"system": "https://example.org/o", "code": "mdt", "display": "MDT decision"}])
    assert body.to_json()["overrideReasons"][0]["display"] == "MDT decision"


def test_links_absolute_or_smart_and_app_context_only_on_smart() -> None:
    with pytest.raises(ValidationError, match="type"):
        Link.model_validate({"label": "x", "url": "https://e.org", "type": "relative"})
    with pytest.raises(ValidationError, match="appContext"):
        Link.model_validate({"label": "x", "url": "https://e.org", "type": "absolute", "appContext": "a"})
    smart = Link.model_validate({"label": "x", "url": "https://e.org/launch", "type": "smart", "appContext": "a"})
    assert smart.to_json()["appContext"] == "a"
    with pytest.raises(ValidationError, match="absolute"):
        Link.model_validate({"label": "x", "url": "evidence.html", "type": "absolute"})


def test_delete_needs_resource_id_and_create_update_need_a_resource() -> None:
    with pytest.raises(ValidationError, match="delete action needs resourceId"):
        Action.model_validate({"type": "delete", "description": "Remove draft"})
    with pytest.raises(ValidationError, match="resourceId must be a relative reference"):
        Action.model_validate({"type": "delete", "description": "Remove", "resourceId": "draft-1"})
    for kind in ("create", "update"):
        with pytest.raises(ValidationError, match="full FHIR resource"):
            Action.model_validate({"type": kind, "description": "Add"})
    create = Action.model_validate({"type": "create", "description": "Add MRI order",
                                    "resource": {"resourceType": "ServiceRequest", "status": "draft"}})
    assert create.to_json()["resource"]["resourceType"] == "ServiceRequest"
    delete = Action.model_validate({"type": "delete", "description": "Remove", "resourceId": "ServiceRequest/d-1"})
    assert delete.to_json() == {"type": "delete", "description": "Remove", "resourceId": "ServiceRequest/d-1"}


def test_action_description_is_required() -> None:
    with pytest.raises(ValidationError, match="description"):
        Action.model_validate({"type": "delete", "resourceId": "ServiceRequest/d-1"})


def test_extension_keys_must_be_namespaced() -> None:
    body = card(extension={"org.vertebral-augmentation-cds.finding": {"id": "C-TECH", "levels": []}}).to_json()
    assert body["extension"]["org.vertebral-augmentation-cds.finding"] == {"id": "C-TECH", "levels": []}
    with pytest.raises(ValidationError, match="reverse-DNS"):
        card(extension={"finding": {}})


def test_unknown_card_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        card(severity="high")


def test_response_keeps_the_empty_cards_array_and_drops_empty_system_actions() -> None:
    assert CdsResponse(cards=[], systemActions=[]).to_json() == {"cards": []}
    assert json.loads(json.dumps(CdsResponse().to_json())) == {"cards": []}


def test_response_refuses_duplicate_card_uuids() -> None:
    one = card(uuid="6e0a3a1e-3283-4575-ab82-028d55fe2719")
    with pytest.raises(ValidationError, match="unique"):
        CdsResponse(cards=[one, one])


def test_full_card_round_trips_through_json() -> None:
    full = Card(
        summary="Suggested technique at L1: SpineJack (alt: kyphoplasty)", indicator="warning",
        detail="**Why:** height restoration", source=Source(label="VA advisor", url="https://va.example.org"),
        suggestions=[Suggestion(label="Replace with SpineJack order", isRecommended=True, actions=[
            Action(type="delete", description="Remove draft", resourceId="ServiceRequest/draft-va-1"),
            Action(type="create", description="Add", resource={"resourceType": "ServiceRequest"}),
        ])],
        selectionBehavior="at-most-one",
        links=[Link(label="Evidence", url="https://va.example.org/evidence", type="absolute")],
    )
    again = Card.model_validate(json.loads(json.dumps(full.to_json())))
    assert again.to_json() == full.to_json()
