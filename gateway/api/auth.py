"""Bearer-token authentication and what a token may see.

Tokens are stored as SHA-256 (``ledger.credentials.hash_api_token``), so authenticating is one index
probe; an expired or revoked token is refused like an unknown one (401). Roles:

==============  ===================  ==================  =====================  ==================
role            read accounts        deposit / withdraw  compliance reports     search / stream
==============  ===================  ==================  =====================  ==================
``admin``       every account        yes                 yes                    yes
``operator``    every account        yes                 no                     yes
``compliance``  every account        no                  yes                    yes
``account``     its own accounts     no                  no                     yes
==============  ===================  ==================  =====================  ==================

Asking for an account the token may not see answers 404, exactly as for an account that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

import asyncpg

from gateway.api import queries
from gateway.api.problems import account_not_found, forbidden, unauthorized
from ledger.credentials import hash_api_token

Role = Literal["admin", "operator", "account", "compliance"]
ROLES: frozenset[str] = frozenset(get_args(Role))
MAX_TOKEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    role: Role
    account_ids: frozenset[str]

    @property
    def sees_all_accounts(self) -> bool:
        return self.role in ("admin", "operator", "compliance")

    def can_see(self, account_id: str) -> bool:
        return self.sees_all_accounts or account_id in self.account_ids

    def require_account(self, account_id: str) -> None:
        if not self.can_see(account_id):
            raise account_not_found(account_id)

    def require_cash_authority(self, account_id: str) -> None:
        """Deposits and withdrawals: admin and operator tokens only (an account token reads its account)."""
        self.require_account(account_id)
        if self.role not in ("admin", "operator"):
            raise forbidden(f"A {self.role} token cannot move cash; deposits and withdrawals need an operator "
                            "or admin token.")

    @property
    def reads_compliance_reports(self) -> bool:
        return self.role in ("compliance", "admin")

    @property
    def actor(self) -> str:
        return f"api:{self.token_id}"


async def authenticate(pool: asyncpg.Pool, token: str | None) -> Principal:
    """``token`` is the bearer credential, None when the request carried no Bearer authorization."""
    if not token:
        raise unauthorized("Send 'Authorization: Bearer <token>'.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthorized("Invalid, expired or revoked token.", invalid_token=True)
    grant = await queries.token_grant(pool, hash_api_token(token))
    if grant is None:
        raise unauthorized("Invalid, expired or revoked token.", invalid_token=True)
    if grant.role not in ROLES:
        raise unauthorized("Invalid, expired or revoked token.", invalid_token=True)
    return Principal(grant.token_id, cast(Role, grant.role), grant.account_ids)
