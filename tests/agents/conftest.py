"""Fixtures of the Claude reviewer tests (defined in reviewer_claude_support)."""

from tests.agents.reviewer_claude_support import clock, fake, make_reviewer  # noqa: F401
