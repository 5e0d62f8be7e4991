"""FIX session layer shared by the gateway and the exchange (QuickFIX 1.15.1, ``quickfix-ssl``).

Public API::

    # fixsession.settings -- typed values → quickfix.SessionSettings (no .cfg files)
    Endpoint(name, role: "acceptor" | "initiator", data_dir, port, host="127.0.0.1", heartbeat_seconds=30,
             reset_on_logon=False, reconnect_seconds=5, max_latency_seconds=120,
             validate_user_defined_fields=True, allow_unknown_msg_fields=False,
             logon_timeout_seconds=10, logout_timeout_seconds=2, tls: TlsOptions | None = None, file_log=True)
    SessionSpec(sender_comp_id, target_comp_id, begin_string="FIX.4.4", validate_fields_have_values=True)
    TlsOptions(certificate=None, private_key=None, protocol="all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1",
               ca_file=None, verify_peer=False)
    build_settings(endpoint, sessions) -> quickfix.SessionSettings
    session_directory(data_dir, name) -> Path          # store in ./store, logs in ./log
    DATA_DICTIONARY                                     # fix_specs/FIX44.xml

    # fixsession.engine
    Engine(endpoint, sessions, application)             # FileStore + masked message log (0600), (SSL)Socket*
        .start()            # OSError if an acceptor port is taken; returns at once
        .stop(force=False)  # blocking (logout handshake): call via asyncio.to_thread
        .is_logged_on(session_id) -> bool
        .session_ids() -> list[quickfix.SessionID]

    # fixsession.application
    SafeApplication(name, loop=None)                    # subclass it; pass the asyncio loop
        .attach(loop)
        # engine-thread hooks (quick, may not block): check_logon(logon, sid) -> reason | None,
        # on_create/on_logon/on_logout(sid), on_logon_refused(sid, reason),
        # on_admin_in/on_admin_out(msg, sid), on_app_out(msg, sid, kind=None) (read, do not change),
        # on_app_in(msg, sid, key=None, text=None) (default: inbound_stamp(msg, sid, key) if set, then to
        # the loop; the loop's copy keeps text)
        # from_app_typed / to_app_typed: fromApp/toApp given what the message log's wrapper read already
        async handle_app_message(sid, msg)              # event loop, per-session order, private copy
        send(sid, msg) -> bool                          # thread-safe; False if no such session

        log_out(sid, reason)                            # Logout with 58 at the next tick, then re-enabled
        # limits, off unless set (ADR 007): throttle: ThrottlePolicy, max_pending, resend_cap,
        # no_resend_types (gap-filled on resend), heartbeat_bounds; peer auth: logon_password (initiator, 554),
        # peer_passwords (acceptor: peer CompID -> SecretStr); hook on_throttled(sid, msg_type, decision)

    # fixsession.throttle (pure)
    ThrottlePolicy(app=Rate(200, 1000), admin=Rate(10, 50), per_type={...}) ; SessionThrottle(policy)
        .check(msg_type, now_ns) -> Decision(verdict ALLOW|REJECT|DISCONNECT, text, first)
    resend_span(begin, end, next_sender_seq) -> (begin, last)

    # fixsession.bridge
    InboundBridge(loop, handler, name="fix").submit(sid, msg, key=None, extra=None, text=None) -> bool
        await .join() ; .pending(key) -> int

    # fixsession.rejects
    business_reject(ref, reason, text, ref_id=None) ; unsupported_message_type(ref)
    session_reject(ref, reason, text, ref_tag=None) ; logout(text=None)
    # fixsession.messages
    session_key(sid) -> "FIX.4.4:SENDER->TARGET" ; msg_type(msg) ; wire_msg_type(text) ; msg_seq_num(msg)
    header_value(msg, tag) ; body_value(msg, tag) ; printable(msg)
    copy_session_id(sid)                                # owned copy; keeps its session_key (no binding call)
    carry(msg, fields) ; carried(msg)                   # fields an owned copy carries beside its own
    keep_text(msg, text) ; wire_text(msg)               # the wire text a copy keeps (msg_type, crack read it)

Rules of the 1.15.1 bindings (see ``fixsession.application``): a C++ exception anywhere --
raised from a callback or thrown by a call into QuickFIX -- aborts the process. Use the helpers
here (they check first) rather than ``sendToTarget``/``getField`` on possibly missing things.
SessionIDs compare by identity: key dictionaries by ``session_key``. Session objects are
process-global per SessionID: two engines in one process must not share a SessionID.
"""

from fixsession.application import SafeApplication
from fixsession.bridge import InboundBridge
from fixsession.engine import Engine
from fixsession.settings import DATA_DICTIONARY, Endpoint, SessionSpec, TlsOptions, build_settings, session_directory

__all__ = [
    "DATA_DICTIONARY",
    "Endpoint",
    "Engine",
    "InboundBridge",
    "SafeApplication",
    "SessionSpec",
    "TlsOptions",
    "build_settings",
    "session_directory",
]
