"""Keystore v3 keys: create, import, list, unlock, and no secret anywhere it could be seen.

Real eth-account encryption throughout; the in-process tests use a tiny scrypt work factor
(``scrypt_n``) to stay fast, and the CLI runs as a real process with the production default.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import pickle
import pty
import select
import stat
import subprocess
import sys
import time
import traceback
from pathlib import Path

import platformdirs
import pytest
import structlog
from eth_account import Account
from eth_account.messages import encode_defunct
from pydantic import SecretStr
from structlog.testing import capture_logs

from core.chain.keys import (
    DEFAULT_SCRYPT_N,
    KEYS_DIR_ENV,
    SECP256K1_ORDER,
    KeyEntry,
    Keystore,
    KeystoreError,
)
from core.chain.passwords import PASSWORD_ENV, keystore_password

# anvil's first dev account: a well-known key with a well-known address.
KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "Correct-Horse 7 battery staple"
WRONG_PASSWORD = "tr0ub4dor&3 wrong one"
FAST_N = 2**4
QUORUM = [sys.executable, "-m", "core.cli"]
KEY_FORMS = [KEY, "0x" + KEY, KEY.upper(), "0X" + KEY.upper(), f"  0x{KEY}\n"]
BAD_KEYS = {
    "too short": KEY[:-2],
    "too long": KEY + "ab",
    "not hex": KEY[:-1] + "g",
    "zero": "0" * 64,
    "curve order": f"{SECP256K1_ORDER:064x}",
}


def assert_no_secret(text: str) -> None:
    """Neither the key (any case, 0x or not, as bytes' repr) nor either password is in ``text``."""
    lowered = text.lower()
    assert KEY not in lowered, "the private key leaked"
    assert repr(bytes.fromhex(KEY))[2:-1] not in text, "the private key's bytes leaked"
    for password in (PASSWORD, WRONG_PASSWORD):
        assert password not in text, "a password leaked"


def error_texts(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.fixture
def store(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keys", scrypt_n=FAST_N)


@pytest.fixture(autouse=True)
def _every_log_level() -> None:
    """Let debug and info events through to capture_logs, whatever configured structlog before."""
    saved = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield
    structlog.configure(wrapper_class=saved)


def test_a_new_key_is_listed_and_unlocks_to_a_signer_of_its_address(store):
    with capture_logs() as logs:
        address = store.new("ops", PASSWORD)
    path = store.directory / "ops.json"
    assert logs == [{"event": "keys.created", "name": "ops", "address": address,
                     "path": str(path), "log_level": "info"}]
    assert store.list() == [KeyEntry("ops", address, path)]
    signer = store.unlock("ops", SecretStr(PASSWORD))
    assert signer.address == address
    signed = signer.sign_message(encode_defunct(text="quorum"))
    assert Account.recover_message(encode_defunct(text="quorum"),
                                   signature=signed.signature) == address
    transaction = {"to": address, "value": 1, "gas": 21_000, "maxFeePerGas": 10**9,
                   "maxPriorityFeePerGas": 1, "nonce": 0, "chainId": 31337, "type": 2}
    assert Account.recover_transaction(signer.sign_transaction(transaction).raw_transaction) == address


@pytest.mark.parametrize("form", KEY_FORMS, ids=["bare", "0x", "upper", "0X-upper", "padded"])
def test_an_imported_key_gets_its_known_address(store, form):
    assert store.import_key("anvil", SecretStr(form), SecretStr(PASSWORD)) == ADDRESS
    assert store.address("anvil") == ADDRESS
    assert store.unlock("anvil", PASSWORD).address == ADDRESS


def test_a_wrong_password_names_the_key_and_nothing_else(store):
    store.import_key("ops", SecretStr(KEY), PASSWORD)
    with capture_logs() as logs, pytest.raises(KeystoreError) as refused:
        store.unlock("ops", SecretStr(WRONG_PASSWORD))
    assert str(refused.value) == "wrong password for key 'ops'"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert logs == [{"event": "keys.unlock_refused", "name": "ops", "reason": "wrong password",
                     "log_level": "warning"}]


def test_an_existing_name_is_never_overwritten(store):
    address = store.new("ops", PASSWORD)
    before = (store.directory / "ops.json").read_bytes()
    for attempt in (lambda: store.new("ops", PASSWORD),
                    lambda: store.import_key("ops", SecretStr(KEY), PASSWORD)):
        with pytest.raises(KeystoreError) as refused:
            attempt()
        assert str(refused.value) == (
            f"a key named 'ops' already exists ({store.directory / 'ops.json'}); keys are never "
            "overwritten: pick another name")
    assert store.ensure_devnet_key("ops", PASSWORD) == address
    assert (store.directory / "ops.json").read_bytes() == before
    assert store.address("ops") == address
    assert [p.name for p in store.directory.iterdir()] == ["ops.json"]


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "a b", "x" * 65, "ops.json",
                                  "-rf", "näme", "ops\n"])
def test_a_name_that_is_not_a_safe_file_name_is_refused(store, name):
    with pytest.raises(KeystoreError) as refused:
        store.new(name, PASSWORD)
    assert str(refused.value) == (f"key name {name!r}: use 1-64 letters, digits, '-' or '_', "
                                  "starting with a letter or digit")
    assert not store.directory.exists()


@pytest.mark.parametrize("name", [KEY, "0x" + KEY])
def test_a_name_that_looks_like_a_private_key_is_refused_without_echoing_it(store, name):
    with pytest.raises(KeystoreError) as refused:
        store.new(name, PASSWORD)
    assert "looks like a private key" in str(refused.value)
    assert_no_secret(error_texts(refused.value))


@pytest.mark.parametrize(("problem", "bad_key"), BAD_KEYS.items(), ids=BAD_KEYS)
def test_a_malformed_private_key_is_refused_without_echoing_it(store, problem, bad_key):
    with pytest.raises(KeystoreError) as refused:
        store.import_key("bad", SecretStr(bad_key), PASSWORD)
    expected = {"too short": "this one has 62 characters", "too long": "this one has 66 characters",
                "not hex": "characters that are not hex digits", "zero": "above zero",
                "curve order": "below the curve order"}[problem]
    assert expected in str(refused.value)
    assert bad_key not in error_texts(refused.value).lower()
    assert not (store.directory / "bad.json").exists()


def test_key_files_are_owner_only_whatever_the_umask(store):
    old_umask = os.umask(0o277)  # would leave the folder unwritable and the file read-only
    try:
        store.new("ops", PASSWORD)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.directory / "ops.json").stat().st_mode) == 0o600
    assert [p.name for p in store.directory.iterdir()] == ["ops.json"], "a temp file was left"


def test_a_keys_folder_that_cannot_be_written_is_named(tmp_path):
    not_a_folder = tmp_path / "keys"
    not_a_folder.write_text("")
    with pytest.raises(KeystoreError) as refused:
        Keystore(not_a_folder, scrypt_n=FAST_N).import_key("ops", SecretStr(KEY), PASSWORD)
    assert str(refused.value) == f"{not_a_folder}: cannot write a key there: Not a directory"
    assert_no_secret(error_texts(refused.value))


def test_an_open_keys_folder_is_reported(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with capture_logs() as logs:
        Keystore(folder, scrypt_n=FAST_N).new("ops", PASSWORD)
    assert {"event": "keys.directory_not_private", "path": str(folder), "mode": "0o755",
            "log_level": "warning"} in logs


def test_the_keys_folder_comes_from_the_argument_the_environment_or_the_data_dir(
    tmp_path, monkeypatch
):
    monkeypatch.delenv(KEYS_DIR_ENV, raising=False)
    assert Keystore().directory == Path(platformdirs.user_data_dir("quorum")) / "keys"
    monkeypatch.setenv(KEYS_DIR_ENV, str(tmp_path / "from-env"))
    assert Keystore().directory == tmp_path / "from-env"
    assert Keystore(tmp_path / "given").directory == tmp_path / "given"


def test_the_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    password = keystore_password(name="ops", confirm=True)
    assert password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(password) and PASSWORD not in str(password)


@pytest.mark.parametrize(("value", "extra"), [(None, ""), ("", " (it is set but empty)")])
def test_no_password_and_no_terminal_is_a_clear_error(monkeypatch, value, extra):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    if value is not None:
        monkeypatch.setenv(PASSWORD_ENV, value)
    with pytest.raises(KeystoreError) as refused:
        keystore_password(name="ops", confirm=False)
    assert str(refused.value) == (f"no password for key 'ops': set {PASSWORD_ENV}{extra}, or run "
                                  "this on a terminal to be prompted")


def test_an_empty_password_is_refused(store):
    with pytest.raises(KeystoreError, match="the password is empty"):
        store.new("ops", SecretStr(""))


def test_production_keys_use_eth_accounts_strong_scrypt_default(tmp_path, store):
    assert DEFAULT_SCRYPT_N == 2**18
    Keystore(tmp_path / "strong").new("ops", PASSWORD)
    crypto = json.loads((tmp_path / "strong" / "ops.json").read_text())["crypto"]
    assert crypto["kdf"] == "scrypt"
    assert (crypto["kdfparams"]["n"], crypto["kdfparams"]["r"], crypto["kdfparams"]["p"]) == (2**18, 8, 1)
    store.new("fast", PASSWORD)
    assert json.loads((store.directory / "fast.json").read_text())["crypto"]["kdfparams"]["n"] == FAST_N
    with pytest.raises(KeystoreError, match="scrypt_n 1000: must be a power of two"):
        Keystore(tmp_path, scrypt_n=1000)


def test_the_devnet_key_is_created_on_first_run_and_reused_after(store):
    with capture_logs() as logs:
        first = store.ensure_devnet_key("devnet", PASSWORD)
    assert {"event": "keys.devnet_key_created", "name": "devnet", "address": first,
            "log_level": "info"} in logs
    before = (store.directory / "devnet.json").read_bytes()
    with capture_logs() as logs:
        assert store.ensure_devnet_key("devnet", PASSWORD) == first
    assert logs == []
    assert (store.directory / "devnet.json").read_bytes() == before


def test_a_signer_shows_only_its_address_and_cannot_be_pickled_or_copied(store):
    store.import_key("anvil", SecretStr(KEY), PASSWORD)
    signer = store.unlock("anvil", PASSWORD)
    assert repr(signer) == str(signer) == f"KeySigner(name='anvil', address={ADDRESS})"
    for leak in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="never pickled or copied"):
            leak(signer)


def test_an_edited_address_field_is_refused_at_unlock(store):
    store.import_key("anvil", SecretStr(KEY), PASSWORD)
    path = store.directory / "anvil.json"
    keyfile = json.loads(path.read_text())
    keyfile["address"] = "00" * 20
    path.write_text(json.dumps(keyfile))
    with pytest.raises(KeystoreError, match="does not match the key it holds"):
        store.unlock("anvil", PASSWORD)


def test_a_damaged_file_is_skipped_by_list_and_named_by_unlock(store):
    store.new("good", PASSWORD)
    (store.directory / "broken.json").write_text("{not json")
    with capture_logs() as logs:
        assert [entry.name for entry in store.list()] == ["good"]
    path = store.directory / "broken.json"
    assert logs == [{"event": "keys.unreadable", "path": str(path),
                     "problem": f"{path}: not JSON, so not a keystore v3 file",
                     "log_level": "warning"}]
    with pytest.raises(KeystoreError, match="not JSON"):
        store.unlock("broken", PASSWORD)
    with pytest.raises(KeystoreError, match="no key named 'missing' in "):
        store.unlock("missing", PASSWORD)


@pytest.mark.parametrize("damage", ["unknown kdf", "no mac", "short salt"])
def test_a_keystore_file_damaged_inside_is_named_at_unlock(store, damage):
    store.import_key("anvil", SecretStr(KEY), PASSWORD)
    path = store.directory / "anvil.json"
    keyfile = json.loads(path.read_text())
    if damage == "unknown kdf":
        keyfile["crypto"]["kdf"] = "argon2"
    elif damage == "no mac":
        del keyfile["crypto"]["mac"]
    else:
        keyfile["crypto"]["kdfparams"]["salt"] = "zz"
    path.write_text(json.dumps(keyfile))
    with pytest.raises(KeystoreError) as refused:
        store.unlock("anvil", PASSWORD)
    assert str(refused.value) == (f"{path}: cannot be decrypted: damaged or not a keystore v3 "
                                  "file")
    assert_no_secret(error_texts(refused.value))


def test_no_secret_reaches_a_log_an_error_the_screen_or_a_key_file(store, capsys, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    seen: list[str] = []
    with capture_logs() as logs:
        for i, form in enumerate(KEY_FORMS):
            seen.append(repr(store.import_key(f"k{i}", SecretStr(form), SecretStr(PASSWORD))))
        seen += [repr(store.new("fresh", PASSWORD)), repr(store.list()),
                 repr(store.ensure_devnet_key("devnet", SecretStr(PASSWORD)))]
        signer = store.unlock("k0", SecretStr(PASSWORD))
        seen += [repr(signer), str(signer), repr(SecretStr(PASSWORD)),
                 repr(keystore_password(name="ops", confirm=False))]
        failing = [lambda: store.unlock("k0", SecretStr(WRONG_PASSWORD)),
                   lambda: store.import_key("k0", SecretStr(KEY), PASSWORD),
                   lambda: store.new(KEY, PASSWORD), lambda: pickle.dumps(signer),
                   *[lambda bad=bad: store.import_key("bad", SecretStr(bad), PASSWORD)
                     for bad in BAD_KEYS.values() if bad != BAD_KEYS["zero"]]]
        for attempt in failing:
            with pytest.raises((KeystoreError, TypeError)) as raised:
                attempt()
            seen.append(error_texts(raised.value))
    captured = capsys.readouterr()
    assert len(logs) >= len(KEY_FORMS) + 3
    assert_no_secret("\n".join([*seen, repr(logs), captured.out, captured.err]))
    for path in store.directory.iterdir():
        assert_no_secret(path.read_text())


def quorum(*args: str, stdin: str = "", env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, "--log-level", "debug", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    env[KEYS_DIR_ENV] = str(tmp_path / "keys")
    return env


@pytest.mark.slow
def test_the_cli_imports_creates_and_lists_keys_and_shows_no_secret(tmp_path, cli_env):
    keys = tmp_path / "keys"
    with_password = {**cli_env, PASSWORD_ENV: PASSWORD}
    runs = [quorum("keys", "list", env=cli_env)]
    assert runs[-1].stdout == f"no keys in {keys} (no such folder)\n"  # made with the first key
    runs.append(quorum("keys", "import", "--name", "anvil", stdin=f"0x{KEY}\n", env=with_password))
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert runs[-1].stdout == f"imported key 'anvil' {ADDRESS} into {keys / 'anvil.json'}\n"
    runs.append(quorum("keys", "new", "--name", "ops", env=with_password))
    assert runs[-1].returncode == 0, runs[-1].stderr
    new_address = runs[-1].stdout.split()[3]
    runs.append(quorum("keys", "list", env=cli_env))
    assert runs[-1].stdout.splitlines() == [
        f"{'anvil':<20} {ADDRESS}  {keys / 'anvil.json'}",
        f"{'ops':<20} {new_address}  {keys / 'ops.json'}",
    ]
    refusals = {
        "a key named 'anvil' already exists": quorum(
            "keys", "import", "--name", "anvil", stdin=KEY, env=with_password),
        "no password for key 'other': set QUORUM_KEYSTORE_PASSWORD": quorum(
            "keys", "import", "--name", "other", stdin=KEY.upper(), env=cli_env),
        "this one has 66 characters": quorum(
            "keys", "import", "--name", "other", stdin=KEY + "ab", env=with_password),
        "no private key on stdin": quorum(
            "keys", "import", "--name", "other", stdin="", env=with_password),
    }
    for message, run in refusals.items():
        assert run.returncode == 2 and message in run.stderr, run.stderr
    assert not (keys / "other.json").exists()
    for run in [*runs, *refusals.values()]:
        assert_no_secret(run.stdout + run.stderr)
    for path in keys.iterdir():
        assert json.loads(path.read_text())["crypto"]["kdfparams"]["n"] == DEFAULT_SCRYPT_N
        assert_no_secret(path.read_text())
    assert Keystore(keys).unlock("anvil", PASSWORD).address == ADDRESS


def test_the_private_key_is_not_an_option_or_argument(cli_env):
    run = quorum("keys", "import", "--name", "x", f"0x{KEY}", env=cli_env)
    assert run.returncode == 2 and "Got unexpected extra argument" in run.stderr
    assert not Path(cli_env[KEYS_DIR_ENV]).exists()


def on_terminal(args: list[str], answers: list[tuple[str, str]], env: dict[str, str]):
    """Run quorum on a pseudo-terminal, answering each prompt once it is fully written."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become quorum at once
        os.execve(sys.executable, [*QUORUM, *args], env)
    screen = b""
    try:
        for prompt, answer in answers:
            screen = _read_until(fd, screen, prompt.encode())
            os.write(fd, answer.encode() + b"\n")
        screen = _read_until(fd, screen, None)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


def _read_until(fd: int, screen: bytes, wanted: bytes | None, timeout_s: float = 60) -> bytes:
    deadline = time.monotonic() + timeout_s
    while wanted is None or wanted not in screen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"waited for {wanted!r}; the screen shows {screen!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child has exited
            chunk = b""
        if not chunk:
            if wanted is None:
                return screen
            raise AssertionError(f"exited before {wanted!r}; the screen shows {screen!r}")
        screen += chunk
    return screen


@pytest.mark.slow
def test_on_a_terminal_the_key_and_password_are_asked_for_and_never_echoed(cli_env):
    # The trailing space of each prompt is written after echo is off (getpass writes it).
    status, screen = on_terminal(
        ["keys", "import", "--name", "anvil"],
        [("Private key (hex, not shown): ", KEY), ("Password for key 'anvil': ", PASSWORD),
         ("Repeat for confirmation: ", PASSWORD)],
        cli_env,
    )
    assert status == 0, screen
    assert f"imported key 'anvil' {ADDRESS}" in screen
    assert_no_secret(screen)
    status, screen = on_terminal(
        ["keys", "new", "--name", "ops"],
        [("Password for key 'ops': ", PASSWORD), ("Repeat for confirmation: ", PASSWORD)],
        cli_env,
    )
    assert status == 0 and "created key 'ops' 0x" in screen, screen
    assert_no_secret(screen)


def test_list_says_when_the_keys_folder_is_missing_and_refuses_a_file(tmp_path, cli_env):
    """Both used to read as an empty folder of keys: `no keys in …`, exit 0."""
    missing = quorum("keys", "list", "--keys-dir", str(tmp_path / "nope"), env=cli_env)
    assert (missing.returncode, missing.stdout.strip()) == (
        0, f"no keys in {tmp_path / 'nope'} (no such folder)")
    afile = tmp_path / "afile"
    afile.write_text("not keys")
    refused = quorum("keys", "list", "--keys-dir", str(afile), env=cli_env)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(f"error: --keys-dir {afile}: is a file, not a folder "
                                           "of keys")
