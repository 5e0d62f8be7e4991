"""Generate QuickFIX ``SessionSettings`` from typed values: no hand-edited .cfg files anywhere.

Public API (used by the gateway, the exchange and the conformance profile)::

    Endpoint(name, role, data_dir, port, host="127.0.0.1", heartbeat_seconds=30,
             reset_on_logon=False, reconnect_seconds=5, max_latency_seconds=120,
             validate_user_defined_fields=True, allow_unknown_msg_fields=False,
             logon_timeout_seconds=10, logout_timeout_seconds=2, tls=None, file_log=True)
    SessionSpec(sender_comp_id, target_comp_id, begin_string="FIX.4.4",
                validate_fields_have_values=True)
    TlsOptions(certificate=None, private_key=None, protocol="all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1",
               ca_file=None, verify_peer=False)
    build_settings(endpoint, sessions) -> quickfix.SessionSettings   # validates, creates dirs
    validate(endpoint, sessions) -> None           # ValueError/FileNotFoundError, never a C++ abort
    settings_values(endpoint, session) -> dict[str, str]   # effective key/values, for logs/tests
    session_directory(data_dir, name) -> Path      # <data_dir>/fix/<name>/
    DATA_DICTIONARY: Path                           # fix_specs/FIX44.xml

Every endpoint keeps its QuickFIX message store (sequence numbers, sent messages for resend) in
``<data_dir>/fix/<name>/store`` and its message log in ``<data_dir>/fix/<name>/log`` (both 0700,
files 0600, passwords masked: :mod:`fixsession.message_log`). An
acceptor's sessions all listen on ``port`` (QuickFIX 1.15.1 binds every interface: it has no
accept-host setting, so ``host`` only matters to initiators). Timestamps carry milliseconds.

The session window is 24 h (StartTime = EndTime = 00:00:00 UTC): QuickFIX then starts a new
session day, and so resets sequence numbers, at midnight UTC -- the usual FIX daily cycle.

Example (an exchange acceptor)::

    endpoint = Endpoint(name="exchange", role="acceptor", data_dir=Path("var"), port=9877)
    settings = build_settings(endpoint, [SessionSpec("EXCHANGE", "GATEWAY")])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import quickfix as fix

import fix_specs

DATA_DICTIONARY = Path(fix_specs.__file__).resolve().parent / "FIX44.xml"

Role = Literal["acceptor", "initiator"]


@dataclass(frozen=True)
class TlsOptions:
    """TLS for a QuickFIX-SSL acceptor (``certificate`` is the server's) or initiator (the client's
    certificate, optional). ``protocol`` uses QuickFIX's syntax (``-all +TLSv1_2``; 1.15.1 knows no
    TLSv1_3 keyword, OpenSSL may still negotiate 1.3 unless it is disabled)."""

    certificate: Path | None = None
    private_key: Path | None = None
    protocol: str = "all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1"
    ca_file: Path | None = None
    verify_peer: bool = False  # acceptor: require a client certificate signed by ca_file


@dataclass(frozen=True)
class SessionSpec:
    """One FIX session as seen from our side: we are ``sender_comp_id``."""

    sender_comp_id: str
    target_comp_id: str
    begin_string: str = "FIX.4.4"
    validate_fields_have_values: bool = True


@dataclass(frozen=True)
class Endpoint:
    """The connection-level settings shared by every session of one acceptor or initiator."""

    name: str  # directory name under <data_dir>/fix/
    role: Role
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    heartbeat_seconds: int = 30  # initiators send it; acceptors take the client's
    reset_on_logon: bool = False  # True only for test profiles: real sessions resume
    reconnect_seconds: int = 5
    max_latency_seconds: int = 120
    validate_user_defined_fields: bool = True
    allow_unknown_msg_fields: bool = False
    logon_timeout_seconds: int = 10
    logout_timeout_seconds: int = 2
    tls: TlsOptions | None = None
    file_log: bool = True


def session_directory(data_dir: Path, name: str) -> Path:
    return Path(data_dir).resolve() / "fix" / name


def _flag(value: bool) -> str:
    return "Y" if value else "N"


def _defaults(endpoint: Endpoint) -> dict[str, str]:
    base = session_directory(endpoint.data_dir, endpoint.name)
    values = {
        "ConnectionType": endpoint.role,
        "FileStorePath": str(base / "store"),
        "FileLogPath": str(base / "log"),
        "StartTime": "00:00:00",
        "EndTime": "00:00:00",
        "UseDataDictionary": "Y",
        "DataDictionary": str(DATA_DICTIONARY),
        "TimestampPrecision": "3",
        "ResetOnLogon": _flag(endpoint.reset_on_logon),
        "ResetOnLogout": "N",
        "ResetOnDisconnect": "N",
        "PersistMessages": "Y",
        "CheckLatency": "Y",
        "MaxLatency": str(endpoint.max_latency_seconds),
        "ValidateUserDefinedFields": _flag(endpoint.validate_user_defined_fields),
        "AllowUnknownMsgFields": _flag(endpoint.allow_unknown_msg_fields),
        "LogonTimeout": str(endpoint.logon_timeout_seconds),
        "LogoutTimeout": str(endpoint.logout_timeout_seconds),
        "SocketNodelay": "Y",
        "SocketReuseAddress": "Y",
    }
    if endpoint.role == "acceptor":
        values["SocketAcceptPort"] = str(endpoint.port)
    else:
        values.update({
            "SocketConnectHost": endpoint.host,
            "SocketConnectPort": str(endpoint.port),
            "HeartBtInt": str(endpoint.heartbeat_seconds),
            "ReconnectInterval": str(endpoint.reconnect_seconds),
        })
    if endpoint.tls is not None:
        values.update(_tls_values(endpoint.role, endpoint.tls))
    return values


def _tls_values(role: Role, tls: TlsOptions) -> dict[str, str]:
    values = {"SSLProtocol": tls.protocol}
    certificate_key, private_key = (
        ("ServerCertificateFile", "ServerCertificateKeyFile") if role == "acceptor"
        else ("ClientCertificateFile", "ClientCertificateKeyFile")
    )
    if tls.certificate is not None:
        values[certificate_key] = str(tls.certificate)
    if tls.private_key is not None:
        values[private_key] = str(tls.private_key)
    if tls.ca_file is not None:
        values["CertificationAuthoritiesFile"] = str(tls.ca_file)
        # 1.15.1 constants: 0 none, 1 optional, 2 require (SSL_CLIENT_VERIFY_*)
        values["CertificateVerifyLevel"] = "2" if tls.verify_peer else "0"
    if role == "acceptor" and tls.certificate is None:
        raise ValueError("a TLS acceptor needs a server certificate")
    return values


def settings_values(endpoint: Endpoint, session: SessionSpec) -> dict[str, str]:
    """The effective key/value pairs of one session (defaults merged): handy for logs and tests."""
    values = _defaults(endpoint)
    values.update(_session_values(session))
    return values


def _session_values(session: SessionSpec) -> dict[str, str]:
    return {
        "BeginString": session.begin_string,
        "SenderCompID": session.sender_comp_id,
        "TargetCompID": session.target_comp_id,
        "ValidateFieldsHaveValues": _flag(session.validate_fields_have_values),
    }


def _dictionary(values: dict[str, str]) -> fix.Dictionary:
    dictionary = fix.Dictionary()
    for key, value in values.items():
        dictionary.setString(key, value)
    return dictionary


BEGIN_STRINGS = frozenset({"FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4"})


def validate(endpoint: Endpoint, sessions: Sequence[SessionSpec]) -> None:
    """Refuse in Python what QuickFIX would refuse with a C++ exception (which aborts the process)."""
    if endpoint.role not in ("acceptor", "initiator"):
        raise ValueError(f"role must be 'acceptor' or 'initiator', not {endpoint.role!r}")
    if not 0 < endpoint.port < 65536:
        raise ValueError(f"port {endpoint.port} out of range")
    if endpoint.heartbeat_seconds <= 0 or endpoint.reconnect_seconds <= 0:
        raise ValueError("heartbeat and reconnect intervals must be positive")
    if not endpoint.name or "/" in endpoint.name:
        raise ValueError(f"bad endpoint name {endpoint.name!r}")
    if not DATA_DICTIONARY.is_file():
        raise FileNotFoundError(DATA_DICTIONARY)
    if not sessions:
        raise ValueError(f"endpoint {endpoint.name!r} has no sessions")
    for session in sessions:
        if session.begin_string not in BEGIN_STRINGS:
            raise ValueError(f"unsupported BeginString {session.begin_string!r}")
        for comp_id in (session.sender_comp_id, session.target_comp_id):
            if not comp_id or any(ch in comp_id for ch in "\x01=:[]\n") or comp_id != comp_id.strip():
                raise ValueError(f"bad CompID {comp_id!r}")
    if endpoint.tls is not None:
        for path in (endpoint.tls.certificate, endpoint.tls.private_key, endpoint.tls.ca_file):
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(path)


def build_settings(endpoint: Endpoint, sessions: Sequence[SessionSpec]) -> fix.SessionSettings:
    """QuickFIX settings for ``endpoint`` with one [SESSION] per spec; creates the store/log dirs.
    Raises ValueError/FileNotFoundError for anything QuickFIX would reject."""
    validate(endpoint, sessions)
    seen: set[tuple[str, str, str]] = set()
    settings = fix.SessionSettings()
    settings.set(_dictionary(_defaults(endpoint)))  # defaults first: set(session) merges them
    for session in sessions:
        key = (session.begin_string, session.sender_comp_id, session.target_comp_id)
        if key in seen:
            raise ValueError(f"duplicate session {':'.join(key)}")
        seen.add(key)
        session_id = fix.SessionID(*key)
        settings.set(session_id, _dictionary(_session_values(session)))
    base = session_directory(endpoint.data_dir, endpoint.name)
    (base / "store").mkdir(mode=0o700, parents=True, exist_ok=True)
    (base / "log").mkdir(mode=0o700, parents=True, exist_ok=True)
    return settings
