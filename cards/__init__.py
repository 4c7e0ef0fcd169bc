"""Card text templates (text only; card structure is built in code)."""
