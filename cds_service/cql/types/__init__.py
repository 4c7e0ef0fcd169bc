"""cql/types layer."""
