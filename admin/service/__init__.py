"""The admin service layer: one module per kind of object, every rule in here.

Each public function takes the :class:`admin.actor.Actor` making the call and a
:class:`store.db.Database`, checks the actor's rights with :func:`authz.admin.can`, and
records every change in the audit trail in the same transaction as the change.
"""
