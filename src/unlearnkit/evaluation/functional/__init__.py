"""Pure metric functions: numbers in, numbers out; each pinned by a golden test."""
