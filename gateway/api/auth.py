"""Bearer-token authentication and what a token may see.

Tokens are stored as SHA-256 (``ledger.credentials.hash_api_token``), so authenticating is one index
probe. Roles: ``admin`` sees and moves everything; ``compliance`` reads every account but moves no
money; ``account`` sees only the accounts granted to it. Asking for an account the token may not see
answers 404, exactly as for an account that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

import asyncpg

from gateway.api import queries
from gateway.api.problems import account_not_found, forbidden, unauthorized
from ledger.credentials import hash_api_token

Role = Literal["admin", "account", "compliance"]
ROLES: frozenset[str] = frozenset(get_args(Role))
MAX_TOKEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    role: Role
    account_ids: frozenset[str]

    @property
    def sees_all_accounts(self) -> bool:
        return self.role in ("admin", "compliance")

    def can_see(self, account_id: str) -> bool:
        return self.sees_all_accounts or account_id in self.account_ids

    def require_account(self, account_id: str) -> None:
        if not self.can_see(account_id):
            raise account_not_found(account_id)

    def require_cash_authority(self, account_id: str) -> None:
        """Deposits and withdrawals: admin, or an account token on its own account."""
        self.require_account(account_id)
        if self.role == "compliance":
            raise forbidden("A compliance token is read-only; it cannot move cash.")

    @property
    def actor(self) -> str:
        return f"api:{self.token_id}"


async def authenticate(pool: asyncpg.Pool, token: str | None) -> Principal:
    """``token`` is the bearer credential, None when the request carried no Bearer authorization."""
    if not token:
        raise unauthorized("Send 'Authorization: Bearer <token>'.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthorized("Invalid or revoked token.", invalid_token=True)
    grant = await queries.token_grant(pool, hash_api_token(token))
    if grant is None:
        raise unauthorized("Invalid or revoked token.", invalid_token=True)
    if grant.role not in ROLES:
        raise unauthorized("Invalid or revoked token.", invalid_token=True)
    return Principal(grant.token_id, cast(Role, grant.role), grant.account_ids)
