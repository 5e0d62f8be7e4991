from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gateway.api.auth import Principal
from gateway.api.problems import Problem, problem_response


def test_problem_document_has_rfc9457_members_and_decimal_strings() -> None:
    problem = Problem(422, "insufficient-funds", "Insufficient funds", "short", available=Decimal("10.50"),
                      requested=Decimal("20"), nested={"a": [Decimal("1.1")]})
    response = problem_response(problem, "/v1/accounts/A/withdrawals")
    body = json.loads(bytes(response.body))
    assert response.media_type == "application/problem+json"
    assert body == {
        "type": "https://brokerage.example/problems/insufficient-funds", "title": "Insufficient funds",
        "status": 422, "detail": "short", "instance": "/v1/accounts/A/withdrawals", "available": "10.50",
        "requested": "20", "nested": {"a": ["1.1"]},
    }


def test_account_token_sees_only_its_accounts() -> None:
    p = Principal("t1", "account", frozenset({"A1"}))
    assert p.can_see("A1") and not p.can_see("A2")
    with pytest.raises(Problem) as info:  # it reads its account but moves no cash (operator/admin only)
        p.require_cash_authority("A1")
    assert info.value.status == 403
    with pytest.raises(Problem) as info:
        p.require_account("A2")
    assert info.value.status == 404 and info.value.slug == "account-not-found"


def test_compliance_reads_everything_but_moves_no_cash() -> None:
    p = Principal("t2", "compliance", frozenset())
    assert p.can_see("ANY")
    with pytest.raises(Problem) as info:
        p.require_cash_authority("ANY")
    assert info.value.status == 403


def test_admin_sees_and_moves_everything() -> None:
    p = Principal("t3", "admin", frozenset())
    p.require_cash_authority("ANY")
    assert p.actor == "api:t3"
