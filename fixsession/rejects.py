"""Builders for the rejects an application sends itself.

In the 1.15.1 Python bindings raising ``UnsupportedMessageType`` (or any exception) from a callback
aborts the process, so the application answers with these messages instead.
"""

from __future__ import annotations

import quickfix as fix

from fixsession.messages import msg_seq_num, msg_type

# BusinessRejectReason (380)
BUSINESS_REJECT_OTHER = 0
UNKNOWN_ID = 1
UNKNOWN_SECURITY = 2
UNSUPPORTED_MESSAGE_TYPE = 3
APPLICATION_NOT_AVAILABLE = 4
CONDITIONALLY_REQUIRED_FIELD_MISSING = 5
NOT_AUTHORIZED = 6

# SessionRejectReason (373), the ones an application may need
VALUE_IS_INCORRECT = 5
OTHER = 99


def business_reject(
    ref: fix.Message, reason: int, text: str, ref_id: str | None = None
) -> fix.Message:
    """BusinessMessageReject (35=j) answering ``ref``: RefSeqNum 45, Text 58, RefMsgType 372,
    BusinessRejectReason 380, and BusinessRejectRefID 379 when ``ref_id`` (e.g. the ClOrdID) is given."""
    reject = fix.Message()
    reject.getHeader().setField(fix.MsgType("j"))
    seq = msg_seq_num(ref)
    if seq is not None:
        reject.setField(fix.RefSeqNum(seq))
    reject.setField(fix.Text(text))
    reject.setField(fix.RefMsgType(msg_type(ref)))
    reject.setField(fix.BusinessRejectReason(reason))
    if ref_id:
        reject.setField(fix.BusinessRejectRefID(ref_id))
    return reject


def unsupported_message_type(ref: fix.Message) -> fix.Message:
    """The reject QuickFIX itself would send for an application message type nobody handles."""
    return business_reject(ref, UNSUPPORTED_MESSAGE_TYPE, "Unsupported Message Type")


def session_reject(ref: fix.Message, reason: int, text: str, ref_tag: int | None = None) -> fix.Message:
    """Reject (35=3) answering ``ref``: RefSeqNum 45, Text 58, RefTagID 371, RefMsgType 372,
    SessionRejectReason 373."""
    reject = fix.Message()
    reject.getHeader().setField(fix.MsgType("3"))
    seq = msg_seq_num(ref)
    if seq is not None:
        reject.setField(fix.RefSeqNum(seq))
    reject.setField(fix.Text(text))
    if ref_tag is not None:
        reject.setField(fix.RefTagID(ref_tag))
    reject.setField(fix.RefMsgType(msg_type(ref)))
    reject.setField(fix.SessionRejectReason(reason))
    return reject


def logout(text: str | None = None) -> fix.Message:
    """A Logout (35=5), with Text (58) when a reason is given."""
    message = fix.Message()
    message.getHeader().setField(fix.MsgType("5"))
    if text:
        message.setField(fix.Text(text))
    return message
