"""ENGINE errors: the one exception tree of the CQL engine (syntax, semantic, evaluation, unsupported)."""
from __future__ import annotations


class CqlError(Exception):
    """Base of every error the engine raises on purpose."""


class CqlSyntaxError(CqlError):
    """The text does not parse; carries 1-based line/column and a snippet with a caret line."""

    def __init__(self, message: str, line: int, column: int, snippet: str) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.snippet = snippet
        super().__init__(f"{message} at line {line}, column {column}\n{snippet}")


class CqlSemanticError(CqlError):
    """The text parses but cannot be compiled: unknown identifier, wrong operand types, ..."""

    def __init__(self, message: str, library: str | None = None, define: str | None = None) -> None:
        self.message = message
        self.library = library
        self.define = define
        where = ""
        if library or define:
            where = f" (library {library or '?'}, define {define or '?'})"
        super().__init__(message + where)


class CqlUnsupportedError(CqlSemanticError):
    """A construct the engine knowingly does not implement; never a silent null."""


class CqlEvaluationError(CqlError):
    """A run-time error; names the library, the define and the expression that failed."""

    def __init__(
        self,
        message: str,
        library: str | None = None,
        define: str | None = None,
        expression: str | None = None,
    ) -> None:
        self.message = message
        self.library = library
        self.define = define
        self.expression = expression
        # Where the failing expression starts in its library's source (set when known).
        self.line: int | None = None
        self.column: int | None = None
        parts = [message]
        if library is not None:
            parts.append(f"library {library}")
        if define is not None:
            parts.append(f"define {define!r}")
        if expression is not None:
            parts.append(f"expression {expression!r}")
        super().__init__("; ".join(parts))


class CqlMessageError(CqlEvaluationError):
    """Raised by Message(..., 'Error', ...): the CQL author asked for the evaluation to stop."""
