"""The fbdsl runtime: event decoding, the engine, the ledger (built in later issues)."""
