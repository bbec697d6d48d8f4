"""`quorum keys new|import|list`: encrypted keys (keystore v3, scrypt) for devnet, fork and live.

These commands create, import and list keys; they never unlock one (only the executor does).
A private key is never a command-line argument, and no key or password is ever printed or
logged. eth-account is imported inside the commands so the other commands start no slower.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

keys_app = typer.Typer(rich_markup_mode=None,
    help="Create, import and list encrypted keys: keystore v3 files (scrypt), one per name. "
    "Passwords come from $QUORUM_KEYSTORE_PASSWORD or a hidden prompt.",
    no_args_is_help=True,
)

NameOption = Annotated[
    str, typer.Option("--name", help="The key's name: 1-64 letters, digits, '-' or '_'")
]
KeysDirOption = Annotated[
    Path | None,
    typer.Option("--keys-dir", help="Folder of key files (default: keys/ in the user data dir, or $QUORUM_KEYS_DIR)"),
]


@keys_app.command("new")
def keys_new(name: NameOption, keys_dir: KeysDirOption = None) -> None:
    """Create a random key, encrypted with a password ($QUORUM_KEYSTORE_PASSWORD, or typed twice)."""
    from core.chain.keys import Keystore
    from core.chain.passwords import keystore_password

    store = Keystore(keys_dir)
    store.check_free(name)
    address = store.new(name, keystore_password(name=name, confirm=True))
    typer.echo(f"created key '{name}' {address} in {store.path(name)}")


IMPORT_HELP = (
    "Import an existing private key (64 hex digits, 0x optional) under NAME, encrypted.\n\n"
    "The key is never a command-line argument: arguments can be read by every user of this "
    "machine (ps, /proc) and stay in your shell history. On a terminal you are asked for it "
    "without echo; otherwise it is read from stdin, e.g. "
    "`quorum keys import --name ops < key.txt`.\n\n"
    "The password comes from $QUORUM_KEYSTORE_PASSWORD or is typed twice; with the key on "
    "stdin, set the variable."
)


@keys_app.command("import", help=IMPORT_HELP)
def keys_import(name: NameOption, keys_dir: KeysDirOption = None) -> None:
    """Import a private key from a hidden prompt or stdin, never from an argument."""
    from core.chain.keys import Keystore, validate_private_key
    from core.chain.passwords import keystore_password

    store = Keystore(keys_dir)
    store.check_free(name)
    private_key = _read_private_key()
    validate_private_key(private_key)
    address = store.import_key(name, private_key, keystore_password(name=name, confirm=True))
    typer.echo(f"imported key '{name}' {address} into {store.path(name)}")


@keys_app.command("list")
def keys_list(keys_dir: KeysDirOption = None) -> None:
    """List keys by name with their addresses (no password: addresses are stored in clear)."""
    from core.chain.keys import Keystore

    store = Keystore(keys_dir)
    if store.directory.exists() and not store.directory.is_dir():
        _fail(f"--keys-dir {store.directory}: is a file, not a folder of keys")
    entries = store.list()
    if not entries:
        missing = "" if store.directory.exists() else " (no such folder)"
        typer.echo(f"no keys in {store.directory}{missing}")
    for entry in entries:
        typer.echo(f"{entry.name:<20} {entry.address}  {entry.path}")


def _read_private_key() -> SecretStr:
    from core.chain.keys import KeystoreError

    if sys.stdin.isatty():
        return SecretStr(typer.prompt("Private key (hex, not shown)", hide_input=True))
    text = sys.stdin.read().strip()
    if not text:
        raise KeystoreError("no private key on stdin: pipe it in, or run this on a terminal "
                            "to be asked for it")
    return SecretStr(text)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
