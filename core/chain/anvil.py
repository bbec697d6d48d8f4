"""Find, start and stop a local anvil node, and the anvil-only RPCs (time travel, balances).

anvil ships in the npm package ``@foundry-rs/anvil``; Quorum looks for it on PATH, then in
``node_modules/.bin`` of the repository (and of the working directory), then under
``npm root -g``, and runs the native binary that package carries rather than its node wrapper.
The node listens on 127.0.0.1 only, on a free port. This module must never log a fork URL: RPC
URLs often carry an API key.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import httpx
import requests
from web3 import HTTPProvider, Web3

from core.chain.errors import AnvilNotFound, AnvilStartError, NodeUnreachable
from core.logging import get_logger

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = (
    "anvil is not installed. Install it with npm (it ships the binary):\n"
    "    npm install @foundry-rs/anvil        # in the Quorum folder, or\n"
    "    npm install -g @foundry-rs/anvil     # for every project\n"
    "or install Foundry (https://getfoundry.sh), then try again."
)
DEFAULT_CHAIN_ID = 31337
RUN_CHAIN_IDS = range(0x5155_0000_0000, 0x5155_0000_0000 + 2**32)
"""Where a run's own chain (devnet, fork) takes a random id: the signatures made on it are
worthless on any real chain (EIP-155), and its transactions and nonces, kept by chain id, never
mix with another run's chain or with a live chain's, even in one shared database."""

log = get_logger(__name__)


def find_anvil(*, search_dirs: tuple[Path, ...] | None = None) -> Path:
    """The anvil binary to run; raises AnvilNotFound naming how to install it."""
    for candidate in _candidates(search_dirs):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return _native_binary(candidate)
    raise AnvilNotFound(INSTALL_HINT)


def _candidates(search_dirs: tuple[Path, ...] | None):
    on_path = shutil.which("anvil")
    if on_path:
        yield Path(on_path)
    for folder in search_dirs or (REPO_ROOT, Path.cwd()):
        yield folder / "node_modules" / ".bin" / "anvil"
    npm = shutil.which("npm")
    if npm:
        try:
            root = subprocess.run(
                [npm, "root", "-g"], capture_output=True, text=True, timeout=15, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return
        if root:
            yield Path(root) / "@foundry-rs" / "anvil" / "bin.mjs"


def _native_binary(candidate: Path) -> Path:
    """The platform binary behind the npm wrapper (``bin.mjs``), else the candidate itself."""
    real = candidate.resolve()
    if real.name != "bin.mjs":
        return candidate
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    package = f"anvil-{sys.platform}-{machine}"
    exe = "anvil.exe" if sys.platform == "win32" else "anvil"
    wrapper_dir = real.parent  # .../@foundry-rs/anvil
    for scope in (wrapper_dir.parent, wrapper_dir / "node_modules" / "@foundry-rs"):
        native = scope / package / "bin" / exe
        if native.is_file():
            return native
    return candidate  # the wrapper finds it itself (needs node)


_LISTENING = re.compile(rb"Listening on 127\.0\.0\.1:(\d+)")
"""What anvil prints once it has bound its port (``--port 0``: one the kernel chose)."""


class Anvil:
    """One running anvil process on 127.0.0.1; a context manager that stops it on exit."""

    def __init__(
        self,
        *,
        process: subprocess.Popen,
        port: int,
        log_path: Path,
        secret: str | None = None,
        owns_log_dir: bool = False,
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self._secret = secret  # the fork URL: kept out of every message built from the log
        self._owns_log_dir = owns_log_dir

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        binary: Path | None = None,
        port: int | None = None,
        chain_id: int | None = None,
        fork_url: str | None = None,
        fork_block_number: int | None = None,
        startup_timeout_s: float = 15.0,
        log_dir: Path | None = None,
        genesis_timestamp: int | None = None,
    ) -> Anvil:
        """Start anvil and return once it answers eth_chainId.

        A fork keeps the forked chain's id unless ``chain_id`` is given; a fresh chain is 31337.
        ``genesis_timestamp`` (a fresh chain only) starts block time there, e.g. before the
        first bar of historical data, so block time can follow the bars.
        """
        binary = binary or find_anvil()
        # --port 0: anvil binds a port the kernel picks and says which. A port found free here
        # and passed on could be taken by another anvil starting at the same time, and the
        # readiness check below would then talk to that other node (its accounts, its nonces).
        args = [str(binary), "--host", "127.0.0.1", "--port", str(port or 0)]
        if chain_id is not None or not fork_url:
            args += ["--chain-id", str(chain_id or DEFAULT_CHAIN_ID)]
        if fork_url:
            args += ["--fork-url", fork_url]
            if fork_block_number is not None:
                args += ["--fork-block-number", str(fork_block_number)]
        elif genesis_timestamp is not None:
            args += ["--timestamp", str(int(genesis_timestamp))]
        owns_log_dir = log_dir is None
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="quorum-anvil-"))
        log_path = log_dir / f"anvil-{port or secrets.token_hex(4)}.log"
        with open(log_path, "wb") as log_file:
            # A session of its own: stop() signals the whole group, the npm wrapper's child too.
            process = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        node = cls(
            process=process,
            port=port or 0,  # 0: known once anvil says where it listens
            log_path=log_path,
            secret=fork_url,
            owns_log_dir=owns_log_dir,
        )
        try:
            node._wait_until_ready(startup_timeout_s)
        except BaseException:
            node._owns_log_dir = False  # keep the log the error points to
            node.stop()
            raise
        log.info("chain.anvil.started", port=node.port, pid=process.pid, fork=bool(fork_url))
        return node

    def _wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        request = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.port == 0:
                    self.port = self._listening_port()
                if self.process.poll() is not None:
                    raise AnvilStartError(
                        f"anvil exited with code {self.process.returncode} while starting; its "
                        f"log ({self.log_path}) ends:\n{self.log_tail()}"
                    )
                try:
                    if self.port:
                        answer = client.post(self.rpc_url, json=request)
                        if answer.status_code == 200 and "result" in answer.json():
                            return
                except httpx.HTTPError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    where = self.rpc_url if self.port else "the port it never named"
                    raise AnvilStartError(
                        f"anvil did not answer eth_chainId on {where} within {timeout_s} s; "
                        f"its log ({self.log_path}) ends:\n{self.log_tail()}"
                    )
                time.sleep(0.02)

    def _listening_port(self) -> int:
        """The port anvil's log says it listens on; 0 until it says so."""
        try:
            found = _LISTENING.search(self.log_path.read_bytes())
        except OSError:
            return 0
        return int(found[1]) if found else 0

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        if self._secret:
            text = text.replace(self._secret, "<fork URL>")
        return "\n".join(text.splitlines()[-lines:])

    def web3(self, *, timeout_s: float = 30.0) -> Web3:
        """A web3 client for this node."""
        return http_web3(self.rpc_url, timeout_s=timeout_s)

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop the node: SIGTERM to its process group, SIGKILL if it lingers."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
            log.info("chain.anvil.stopped", port=self.port, pid=self.process.pid)
        if self._owns_log_dir:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)
            self._owns_log_dir = False

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass  # already gone

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietHTTPProvider(HTTPProvider):
    """web3's HTTP transport, whose failures never quote the URL (it may hold an API key): a
    request that gets no answer raises NodeUnreachable naming the method and the error's class,
    with the original exception dropped from the chain."""

    def make_request(self, method: Any, params: Any) -> Any:
        try:
            return super().make_request(method, params)
        except requests.RequestException as error:
            raise NodeUnreachable(f"the node did not answer {method}: "
                                  f"{type(error).__name__}") from None


def run_chain_id() -> int:
    """A fresh chain id for a chain one run starts (see RUN_CHAIN_IDS)."""
    return RUN_CHAIN_IDS[secrets.randbelow(len(RUN_CHAIN_IDS))]


def http_web3(url: str, *, timeout_s: float = 30.0) -> Web3:
    """A web3 client over HTTP that asks the node its chain id once, not before every request
    (web3's validation does that by default: half of all round trips), and whose transport
    errors never show the URL."""
    provider = _QuietHTTPProvider(url, request_kwargs={"timeout": timeout_s},
                                  cache_allowed_requests=True, cacheable_requests={"eth_chainId"})
    return Web3(provider)


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    """Call a raw JSON-RPC method; raises AnvilStartError if the node answers with an error."""
    answer = w3.provider.make_request(method, params)
    if answer.get("error"):
        raise AnvilStartError(f"{method} failed: {answer['error']}")
    return answer.get("result")


def increase_time(w3: Web3, seconds: int) -> None:
    """Move the chain's clock forward and mine a block at the new time."""
    rpc(w3, "evm_increaseTime", [int(seconds)])
    rpc(w3, "evm_mine", [])


def set_next_block_timestamp(w3: Web3, timestamp: int) -> None:
    """The next block mined gets this timestamp (it must be later than the latest block's)."""
    rpc(w3, "evm_setNextBlockTimestamp", [int(timestamp)])


def set_balance(w3: Web3, address: str, wei: int) -> None:
    """Give an address this much ether (for gas)."""
    rpc(w3, "anvil_setBalance", [Web3.to_checksum_address(address), hex(wei)])


def snapshot(w3: Web3) -> str:
    """Save the chain's state; ``revert`` goes back to it (once)."""
    return rpc(w3, "evm_snapshot", [])


def revert(w3: Web3, snapshot_id: str) -> None:
    """Go back to a saved state; raises AnvilStartError if the snapshot is unknown."""
    if not rpc(w3, "evm_revert", [snapshot_id]):
        raise AnvilStartError(f"evm_revert: no snapshot {snapshot_id}")
