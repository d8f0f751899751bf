"""The Administrationsmodul: the service layer (all rules) and the REST API on top of it.

``admin.service`` holds every rule: validation, rights (:mod:`authz.admin`), four-eyes and
audit. ``admin.api`` only translates HTTP to service calls and back; the web UI (a later
issue) calls the same service layer.
"""
