"""The Administrationsmodul's web UI at ``/admin/``: Danish (English switch), usable without
JavaScript, on the service layer of :mod:`admin.service` (no rules of its own)."""

from admin.ui import pages  # noqa: F401 - attaches the routes
from admin.ui.web import setup

__all__ = ["setup"]
