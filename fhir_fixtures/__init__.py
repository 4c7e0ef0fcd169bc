"""Fixtures layer: synthetic FHIR patient scenarios with the findings the spec says they must produce."""
