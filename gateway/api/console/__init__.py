"""The web operator console: a static page (``static/``: HTML, CSS and plain JavaScript, no build step) served
at ``/console`` under a strict Content-Security-Policy, and ``GET /v1/console/snapshot``, the one read it polls.

The page holds the operator's API token in ``sessionStorage`` and sends it as ``Authorization: Bearer`` (never
in a URL); its buttons call the audited control endpoints (``/v1/admin/controls/...``, ``/v1/admin/sessions/...``).
See docs/adr/018-operator-console.md.
"""
