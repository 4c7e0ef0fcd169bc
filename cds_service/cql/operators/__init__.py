"""cql/operators layer."""
