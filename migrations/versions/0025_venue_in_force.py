"""The venue ClOrdID in force: ``orders.venue_in_force``, the number of our cancel/replace request the venue
knows the order by (0: the order id itself, ``<order_id>.<n>`` otherwise).

A cancel/replace names the ClOrdID in force at the venue as its OrigClOrdID (41): the last one the venue
*accepted*. ``venue_requests`` counts every request sent, refused ones included, so naming the latest request
(as before) broke an order for good once the venue refused a request: every later cancel was "unknown order"
there. The column is written when the venue confirms a replace.

Back-fill (working orders only; a finished order sends no more requests and keeps 0): request ``n`` of an order
is its ``n``-th PendingCancel/PendingReplace client report (``executions`` in ``seq`` order, every request
writes one), and a replace the venue accepted is the one whose ClOrdID (11) the order's ``current_cl_ord_id``
names; an order whose ClOrdID in force is still its entry ClOrdID keeps 0.

Revision ID: 0025_venue_in_force
Revises: 0024_jsonb_no_statistics
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_venue_in_force"
down_revision: str | Sequence[str] | None = "0024_jsonb_no_statistics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACK_FILL = """
UPDATE orders o SET venue_in_force = r.n
FROM (
    SELECT e.order_id, e.fix_fields,
           row_number() OVER (PARTITION BY e.order_id ORDER BY e.seq) AS n
    FROM executions e JOIN orders w USING (order_id)
    WHERE e.exec_type IN ('pending_cancel', 'pending_replace')
      AND w.status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')
      AND w.current_cl_ord_id IS NOT NULL AND w.current_cl_ord_id <> w.cl_ord_id
) r
WHERE o.order_id = r.order_id
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.fix_fields) f
              WHERE f->>0 = '11' AND f->>1 = o.current_cl_ord_id)
"""


def upgrade() -> None:
    op.add_column("orders", sa.Column("venue_in_force", sa.Integer, nullable=False, server_default="0"))
    op.execute(_BACK_FILL)


def downgrade() -> None:
    op.drop_column("orders", "venue_in_force")
