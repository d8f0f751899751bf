"""Demo fagsystemer KY, KSD and SAPA for the quick start (later issue)."""
