"""Every structured log event goes through the secret mask (ADR 008)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest

from brokerage.credentials import hide_password, scram_sha256_verifier
from brokerage.logs import configure_logging, get_logger, mask_secrets


def test_secret_keys_fix_passwords_and_url_passwords_are_masked() -> None:
    event = mask_secrets(None, "info", {
        "event": "logon 8=FIX.4.4\x0135=A\x01554=hunter2\x01925=new-one\x0110=000\x01",
        "password": "hunter2", "admin_token": "t0k3nv4lue", "Authorization": "Bearer abc", "554": "x",
        "url": "postgresql://brokerage_app:s3cr3t@127.0.0.1:55432/brokerage",
        "redis": "redis://:r3d1s@127.0.0.1:56379/0",
        "nested": {"api_key": "k", "fields": ["554=hunter2"]},
        "token_count": 3, "symbol": "AAPL", "token_id": "tok-17",
    })
    text = json.dumps(event)
    for secret in ("hunter2", "new-one", "t0k3nv4lue", "Bearer abc", "s3cr3t", "r3d1s", '"k"'):
        assert secret not in text
    # not secrets: untouched
    assert event["token_count"] == 3 and event["symbol"] == "AAPL" and event["token_id"] == "tok-17"
    assert "554=***" in event["event"] and event["redis"] == "redis://:***@127.0.0.1:56379/0"


def test_every_log_path_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    get_logger("t").info("fix.logon", raw="35=A|554=hunter2|10=1", password="hunter2")
    logging.getLogger("stdlib").warning("connect redis://:hunter2@127.0.0.1:1/0")
    try:
        raise RuntimeError("refused 554=hunter2")
    except RuntimeError:
        get_logger("t").exception("failed")
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert err.count("***") >= 4


def test_hide_password_and_scram_verifier() -> None:
    assert hide_password("postgresql://u:p%40ss@h:5/db") == "postgresql://u:***@h:5/db"
    assert hide_password("redis://127.0.0.1:1/0") == "redis://127.0.0.1:1/0"
    # A space and "!" are outside base64, so the check cannot hit by chance in the
    # random salt or keys (a two-letter password once did).
    password = "pass word!"
    verifier = scram_sha256_verifier(password)
    assert password not in verifier
    # RFC 5802/7677: the verifier is the salt and the keys derived from the password.
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = keys.split(":")
    assert method == "SCRAM-SHA-256" and iterations == "4096"
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64decode(stored_key) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server_key) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
