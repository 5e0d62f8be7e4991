"""Sessions outlive the gateway process (FileStore under <data_dir>/fix/gateway/) and TLS logon."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from gateway_process import PASSWORDS, GatewayProcess
from gateway_wire import WireClient, value

from brokerage.services import free_port

pytestmark = pytest.mark.integration

NEWS = [(148, "hello"), (33, "1"), (58, "line")]  # valid News (35=B): the gateway rejects it (no handler)


def test_restart_resumes_sequence_numbers_and_resends_missed_messages(seeded_db: str, tmp_path: Path) -> None:
    first = GatewayProcess(seeded_db, tmp_path)
    first.start()
    client = WireClient(first.port)
    client.logon(PASSWORDS["CLIENT1"])
    assert value(client.expect("A"), 34) == "1"
    client.send("B", NEWS)
    assert value(client.expect("j"), 34) == "2"
    client.send("B", NEWS)
    missed = client.expect("j")  # the client "loses" this one (say, it crashed before storing it)
    assert (value(missed, 34), value(missed, 45)) == ("3", "3")
    client.close()  # no Logout: connection lost
    assert first.stop() == 0, first.log()

    second = GatewayProcess(seeded_db, tmp_path, port=first.port)
    second.start()
    try:
        client = WireClient(second.port, next_seq=4)  # the client resumes too: its next is 4
        client.logon(PASSWORDS["CLIENT1"])
        logon = client.expect("A")
        assert value(logon, 34) == "4", "the gateway resumed its outgoing sequence"
        # The client expected 3 and sees 4: it asks for the gap, as FIX requires.
        client.send("2", [(7, "3"), (16, "0")])
        resent = client.expect("j")
        assert (value(resent, 34), value(resent, 45), value(resent, 43)) == ("3", "3", "Y")
        assert value(resent, 122) is not None
        gap_fill = client.expect("4")  # the Logon itself is not resent: gap fill past it
        assert (value(gap_fill, 34), value(gap_fill, 123), value(gap_fill, 36)) == ("4", "Y", "5")
        # and the session carries on where it was
        client.send("B", NEWS)
        reject = client.expect("j")
        assert (value(reject, 34), value(reject, 45)) == ("5", "6")
        client.send("5")
        client.expect("5")
        client.close()
    finally:
        assert second.stop() == 0, second.log()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    certificate, key = directory / "gateway.crt", directory / "gateway.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True)
    return certificate, key


def test_tls_logon_with_self_signed_certificate(seeded_db: str, tmp_path: Path) -> None:
    certificate, key = self_signed_certificate(tmp_path)
    gateway = GatewayProcess(seeded_db, tmp_path, tls_port=free_port(), certificate=certificate, private_key=key)
    gateway.start()
    try:
        context = ssl.create_default_context(cafile=str(certificate))
        assert gateway.tls_port is not None
        client = WireClient(gateway.tls_port, sender="CLIENT2", tls=context)
        client.logon(PASSWORDS["CLIENT2"])
        logon = client.expect("A")
        assert (value(logon, 49), value(logon, 56)) == ("BROKER", "CLIENT2")
        client.send("1", [(112, "over-tls")])
        assert value(client.expect("0"), 112) == "over-tls"
        client.send("5")
        client.expect("5")
        assert client.wait_closed()
        client.close()

        # same session, plain port: one sequence-number store whichever port the client uses
        plain = WireClient(gateway.port, sender="CLIENT2", next_seq=4)
        plain.logon(PASSWORDS["CLIENT2"])
        assert value(plain.expect("A"), 34) == "4"
        plain.close()

        # a client that does not speak TLS on the TLS port is dropped; the gateway lives on
        raw = WireClient(gateway.tls_port, sender="CLIENT1")
        raw.logon(PASSWORDS["CLIENT1"])
        assert raw.wait_closed()
        raw.close()
        assert gateway.alive()
    finally:
        assert gateway.stop() == 0, gateway.log()
