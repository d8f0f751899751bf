"""What a fagsystem imports to verify our tokens (later issue; depends on nothing else here)."""
