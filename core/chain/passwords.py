"""Where a keystore password comes from: ``$QUORUM_KEYSTORE_PASSWORD``, or a hidden prompt.

The prompt is offered only on a terminal; anywhere else (a pipe, a service, CI) the variable
must be set, and its absence is an error that says so. This module must never log, print or
put a password in an exception message: it hands the password on as a pydantic ``SecretStr``.
"""

from __future__ import annotations

import os
import sys

import typer
from pydantic import SecretStr

from core.chain.keys import KeystoreError

PASSWORD_ENV = "QUORUM_KEYSTORE_PASSWORD"


def keystore_password(*, name: str, confirm: bool) -> SecretStr:
    """The password for key ``name``: the environment's, else typed twice (``confirm``) or once."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return SecretStr(value)
    if not sys.stdin.isatty():
        empty = " (it is set but empty)" if value is not None else ""
        raise KeystoreError(f"no password for key '{name}': set {PASSWORD_ENV}{empty}, or run "
                            "this on a terminal to be prompted")
    typed = typer.prompt(f"Password for key '{name}'", hide_input=True,
                         confirmation_prompt=confirm)
    return SecretStr(typed)
