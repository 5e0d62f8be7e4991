"""Settings generation: what QuickFIX will actually read back for each session."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import quickfix as fix

from fixsession.settings import DATA_DICTIONARY, Endpoint, SessionSpec, TlsOptions, build_settings, settings_values


def read_back(settings: fix.SessionSettings, spec: SessionSpec) -> dict[str, str]:
    """Copy out the session's settings: the Dictionary QuickFIX returns lives inside ``settings``,
    and reading a missing key would abort (C++ exception), so only present keys are read."""
    dictionary = settings.get(fix.SessionID(spec.begin_string, spec.sender_comp_id, spec.target_comp_id))
    keys = ("ConnectionType", "SocketAcceptPort", "SocketConnectHost", "SocketConnectPort", "HeartBtInt",
            "ReconnectInterval", "DataDictionary", "TimestampPrecision", "ResetOnLogon", "ValidateFieldsHaveValues",
            "ValidateUserDefinedFields", "FileStorePath", "FileLogPath", "SSLProtocol", "UseDataDictionary")
    return {key: dictionary.getString(key) for key in keys if dictionary.has(key)}


def test_acceptor_settings_as_quickfix_reads_them(tmp_path: Path) -> None:
    endpoint = Endpoint(name="conformance", role="acceptor", data_dir=tmp_path, port=40123, reset_on_logon=True)
    strict, lenient = SessionSpec("ISLD", "TW"), SessionSpec("ISLD", "NO_CHECK", validate_fields_have_values=False)
    settings = build_settings(endpoint, [strict, lenient])

    session = read_back(settings, strict)
    assert session["ConnectionType"] == "acceptor"
    assert session["SocketAcceptPort"] == "40123"
    assert session["DataDictionary"] == str(DATA_DICTIONARY)
    assert session["UseDataDictionary"] == "Y"
    assert DATA_DICTIONARY.name == "FIX44.xml" and DATA_DICTIONARY.exists()
    assert session["TimestampPrecision"] == "3"
    assert session["ResetOnLogon"] == "Y"
    assert session["ValidateFieldsHaveValues"] == "Y"
    assert session["ValidateUserDefinedFields"] == "Y"
    assert session["FileStorePath"] == str(tmp_path.resolve() / "fix" / "conformance" / "store")
    assert session["FileLogPath"] == str(tmp_path.resolve() / "fix" / "conformance" / "log")
    assert "SocketConnectHost" not in session and "SSLProtocol" not in session
    assert read_back(settings, lenient)["ValidateFieldsHaveValues"] == "N"
    assert (tmp_path / "fix" / "conformance" / "store").is_dir()


def test_initiator_settings_carry_connect_reconnect_and_heartbeat(tmp_path: Path) -> None:
    endpoint = Endpoint(name="gateway-exchange", role="initiator", data_dir=tmp_path, host="10.0.0.5", port=9877,
                        heartbeat_seconds=15, reconnect_seconds=3)
    spec = SessionSpec("GATEWAY", "EXCHANGE")
    settings = build_settings(endpoint, [spec])
    session = read_back(settings, spec)
    assert session["ConnectionType"] == "initiator"
    assert (session["SocketConnectHost"], session["SocketConnectPort"]) == ("10.0.0.5", "9877")
    assert (session["HeartBtInt"], session["ReconnectInterval"]) == ("15", "3")
    assert session["ResetOnLogon"] == "N"  # real sessions resume their sequence numbers
    assert "SocketAcceptPort" not in session


def test_tls_options_map_to_quickfix_ssl_keys(tmp_path: Path) -> None:
    tls = TlsOptions(certificate=tmp_path / "c.pem", private_key=tmp_path / "k.pem", ca_file=tmp_path / "ca.pem",
                     verify_peer=True)
    acceptor = settings_values(Endpoint("x", "acceptor", tmp_path, 1, tls=tls), SessionSpec("A", "B"))
    assert acceptor["ServerCertificateFile"] == str(tmp_path / "c.pem")
    assert acceptor["ServerCertificateKeyFile"] == str(tmp_path / "k.pem")
    assert acceptor["CertificationAuthoritiesFile"] == str(tmp_path / "ca.pem")
    assert acceptor["CertificateVerifyLevel"] == "2"
    assert acceptor["SSLProtocol"] == "all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1"
    initiator = settings_values(Endpoint("x", "initiator", tmp_path, 1, tls=TlsOptions(ca_file=tmp_path / "ca.pem")),
                                SessionSpec("A", "B"))
    assert "ClientCertificateFile" not in initiator and initiator["CertificateVerifyLevel"] == "0"
    with pytest.raises(ValueError, match="server certificate"):
        settings_values(Endpoint("x", "acceptor", tmp_path, 1, tls=TlsOptions()), SessionSpec("A", "B"))


@pytest.mark.parametrize(
    ("endpoint", "sessions", "error"),
    [
        (Endpoint("e", "acceptor", Path("."), 1), [SessionSpec("A", "B"), SessionSpec("A", "B")],
         "duplicate session FIX.4.4:A:B"),
        (Endpoint("e", "acceptor", Path("."), 1), [], "no sessions"),
        (Endpoint("e", "acceptor", Path("."), 70000), [SessionSpec("A", "B")], "out of range"),
        (Endpoint("e", "initiator", Path("."), 1, heartbeat_seconds=0), [SessionSpec("A", "B")], "positive"),
        (Endpoint("e", "acceptor", Path("."), 1), [SessionSpec("A", "B", begin_string="FIX.9.9")], "BeginString"),
        (Endpoint("e", "acceptor", Path("."), 1), [SessionSpec("A", "")], "CompID"),
        (Endpoint("e", "acceptor", Path("."), 1), [SessionSpec("A=1", "B")], "CompID"),
    ],
)
def test_what_quickfix_would_abort_on_is_refused_in_python(
    tmp_path: Path, endpoint: Endpoint, sessions: list[SessionSpec], error: str
) -> None:
    # QuickFIX answers these with a C++ exception, which aborts the process in the Python bindings.
    with pytest.raises(ValueError, match=error):
        build_settings(replace(endpoint, data_dir=tmp_path), sessions)


def test_missing_certificate_file_is_refused(tmp_path: Path) -> None:
    tls = TlsOptions(certificate=tmp_path / "missing.pem")
    with pytest.raises(FileNotFoundError):
        build_settings(Endpoint("e", "acceptor", tmp_path, 1, tls=tls), [SessionSpec("A", "B")])
