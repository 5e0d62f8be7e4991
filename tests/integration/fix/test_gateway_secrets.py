"""The real gateway process after client Logons carrying passwords (554), a right one and a wrong one:
neither password is in any file under its data directory (FIX message logs, stores) nor in the process's
own output, and its FIX files are private (ADR 008)."""

from __future__ import annotations

import stat

import pytest
from gateway_process import PASSWORDS, GatewayProcess

from fixclient.client import FixClient, LogonRejected

pytestmark = pytest.mark.integration

WRONG = "wrong-guess-7f3a9c"


async def test_no_client_password_in_gateway_files_or_output(gateway: GatewayProcess) -> None:
    attacker = await FixClient.connect("127.0.0.1", gateway.port, "CLIENT2", "BROKER", password=WRONG)
    with pytest.raises(LogonRejected):
        await attacker.logon()
    await attacker.close()
    client = await FixClient.connect("127.0.0.1", gateway.port, "CLIENT1", "BROKER",
                                     username="client1", password=PASSWORDS["CLIENT1"])
    await client.logon()  # control: the right password still logs on
    await client.logout()
    assert gateway.stop() == 0

    fix_dir = gateway.data_dir / "fix"
    files = [p for p in gateway.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".messages.log") for p in files), "no FIX message log written"
    assert gateway.log_path is not None and gateway.log_path in files  # the process's output
    for secret in (PASSWORDS["CLIENT1"], WRONG):
        leaking = [str(p) for p in files if secret.encode() in p.read_bytes()]
        assert leaking == [], f"{secret!r} found in {leaking}"
    for path in fix_dir.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
