"""Services layer: the hook path (no criterion trace) answers exactly as the what-if path with its trace."""

from __future__ import annotations

from cds_service.admin.config import ActiveConfig, default_config
from cds_service.fhir.record import PatientRecord
from cds_service.services.vertebral import logic
from tests.unit.services.test_vertebral_logic import NOW, ORDER, record


def test_the_hook_path_skips_only_the_trace() -> None:
    active = ActiveConfig(default_config(), "v1")
    for inr in (1.2, 1.7, 1.9):
        data = PatientRecord(record(inr))
        kwargs = dict(now=NOW, hook="order-select", patient_id="p1", encounter_id="e1")
        traced = logic.run(active, data, [ORDER], **kwargs)  # type: ignore[arg-type]
        hook = logic.run(active, PatientRecord(record(inr)), [ORDER], with_trace=False, **kwargs)  # type: ignore[arg-type]
        assert traced.trace and not hook.trace
        assert hook.findings == traced.findings
        assert [c.summary for c in hook.cards] == [c.summary for c in traced.cards]
        assert [c.detail for c in hook.cards] == [c.detail for c in traced.cards]
        assert hook.levels == traced.levels
