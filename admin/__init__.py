"""The Administrationsmodul: web UI and REST API (later issue)."""
