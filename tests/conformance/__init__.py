"""Conformance tests: the HL7 cql-tests cases, their runner rules and the reviewed skip list."""
