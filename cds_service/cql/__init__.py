"""ENGINE package: the CQL 1.5 engine (grammar -> AST -> compiled closures); public entry points live here."""
from cds_service.cql.library import CompiledLibrary, EvaluationContext, LibraryManager, evaluate_expression

__all__ = ["LibraryManager", "EvaluationContext", "evaluate_expression", "CompiledLibrary"]
