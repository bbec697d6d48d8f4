"""The settings: one TOML file validated by pydantic, secrets only from the environment.

Unknown keys are errors naming the key. Each component's config model lives beside the
component; this module only composes them. No secret is ever read from the TOML file.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from agents.executor import ExecutionConfig
from agents.reviewer import ReviewerConfig
from agents.risk import RiskConfig
from agents.sentiment import SentimentConfig
from agents.strategy import StrategiesConfig
from core.chain.settings import ChainConfig
from core.config_model import ConfigModel
from core.validation import read_toml, validate
from state.approvers import ApprovalsConfig

_SYMBOL = re.compile(r"^[A-Z0-9]{1,16}$")
"""An asset symbol as the feeds know it: upper-case letters and digits, like BTC."""


class _Section(ConfigModel):
    """A table of quorum.toml."""


class RunConfig(_Section):
    seed: int = Field(default=7, ge=0, description="Seed of the synthetic market; same seed, same run")
    cash_usd: float = Field(default=100_000, gt=0, allow_inf_nan=False,
                            description="Starting cash of the treasury")
    mode: Literal["paper", "devnet", "fork"] = Field(
        default="paper",
        description="Execution mode: paper (simulated fills), devnet (a local anvil chain Quorum "
        "starts) or fork (anvil forking --fork-url); `quorum run --mode` overrides it",
    )


class DataConfig(_Section):
    source: Literal["synthetic", "files"] = Field(
        default="synthetic", description="Where bars come from"
    )
    files: tuple[Path, ...] = Field(default=(), description="OHLCV files for source = files")
    assets: tuple[str, ...] = Field(
        default=("BTC", "ETH"), description="Synthetic assets to generate"
    )
    bars: int = Field(default=2000, ge=2, description="Synthetic bars to generate")
    bar_seconds: int = Field(default=3600, gt=0, description="Synthetic bar length in seconds")
    start: datetime = Field(
        default=datetime(2024, 1, 1, tzinfo=UTC),
        description="Open time of the first bar, with a timezone (2024-01-01T00:00:00Z)",
    )

    @field_validator("assets")
    @classmethod
    def _unique_upper_case_symbols(cls, assets: tuple[str, ...]) -> tuple[str, ...]:
        # PydanticCustomError, not ValueError: the message reaches the person without a prefix.
        if not assets:
            raise PydanticCustomError("assets", "must name at least one symbol, like [\"BTC\"]")
        for symbol in assets:
            if not _SYMBOL.match(symbol):
                raise PydanticCustomError(
                    "assets", "{symbol} is not an upper-case symbol like 'BTC'",
                    {"symbol": repr(symbol)},
                )
        repeated = sorted({s for s in assets if assets.count(s) > 1})
        if repeated:
            raise PydanticCustomError(
                "assets", "must be unique; repeated: {repeated}", {"repeated": ", ".join(repeated)}
            )
        return assets

    @field_validator("start")
    @classmethod
    def _start_has_a_timezone(cls, start: datetime) -> datetime:
        if start.utcoffset() is None:
            raise PydanticCustomError(
                "start", "{start} needs a timezone, e.g. {example}",
                {"start": start.isoformat(), "example": start.isoformat() + "Z"},
            )
        return start


class Settings(_Section):
    """The whole of a Quorum config file."""

    run: RunConfig = Field(default_factory=RunConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    strategies: StrategiesConfig = Field(default_factory=StrategiesConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    reviewer: ReviewerConfig = Field(default_factory=ReviewerConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    chain: ChainConfig = Field(
        default_factory=ChainConfig, description="Devnet and fork runs: the key and the devnet"
    )
    approvals: ApprovalsConfig = Field(
        default_factory=ApprovalsConfig, description="Who may approve or reject, per channel"
    )
    policy_file: Path | None = Field(
        default=None, description="Policy TOML; the shipped policies/default.toml when unset"
    )

    @classmethod
    def load(cls, path: Path | str | None) -> Settings:
        """Read and validate a config file; defaults when ``path`` is None."""
        if path is None:
            return cls()
        path = Path(path)
        _, data = read_toml(path, what="config file", missing_hint=" (write one with `quorum init`)")
        return validate(cls, data, source=str(path)).relative_to(path.parent)

    def relative_to(self, base: Path) -> Settings:
        """Resolve relative file paths against the config file's folder."""

        def resolve(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        return self.model_copy(
            update={
                "policy_file": resolve(self.policy_file),
                "data": self.data.model_copy(
                    update={"files": tuple(resolve(p) for p in self.data.files)}
                ),
                "sentiment": self.sentiment.model_copy(
                    update={"headlines": resolve(self.sentiment.headlines)}
                ),
                "chain": self.chain.model_copy(update={"keys_dir": resolve(self.chain.keys_dir)}),
            }
        )


class Secrets(BaseModel):
    """Secrets, from the environment only; SecretStr keeps them out of reprs and logs."""

    model_config = ConfigDict(frozen=True)

    anthropic_api_key: SecretStr | None = None

    @classmethod
    def from_env(cls) -> Secrets:
        key = os.environ.get("ANTHROPIC_API_KEY")
        return cls(anthropic_api_key=SecretStr(key) if key else None)
