"""The admin UI's pages; importing the package attaches every route to the blueprint."""

from admin.ui.pages import agreements, records, roles, systems, users

__all__ = ["agreements", "records", "roles", "systems", "users"]
