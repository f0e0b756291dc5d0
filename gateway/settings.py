"""Gateway settings, from the environment (prefix ``COALITION_``), read in one place.

Secrets have no default outside local mode: the operator token must be set, and a placeholder
is refused.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator

from network.settings import ChainSettings

LOCAL_OPERATOR_TOKEN = "local-operator-token"  # local mode only: printed by `make demo`


class GatewaySettings(ChainSettings):
    operator_token: str | None = None
    max_purchase_amount: str = "1000000"  # per purchase, in the currency's units
    rate_limit_per_minute: int = Field(default=6_000, ge=1)
    public_url: str = "http://127.0.0.1:8000"

    @model_validator(mode="after")
    def _operator_token(self) -> GatewaySettings:
        if self.operator_token is None:
            if self.mode != "local":
                raise ValueError("COALITION_OPERATOR_TOKEN must be set outside local mode")
            self.operator_token = LOCAL_OPERATOR_TOKEN
        elif self.mode != "local" and (self.operator_token == LOCAL_OPERATOR_TOKEN or len(self.operator_token) < 24):
            raise ValueError("COALITION_OPERATOR_TOKEN is a placeholder or shorter than 24 characters")
        return self


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
