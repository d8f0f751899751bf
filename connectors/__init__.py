"""Directories: Active Directory over LDAP, the local SQL directory, sync jobs."""
