"""Importing this module registers every lint code (one module per code)."""

from fbdsl.compiler.lint import (  # noqa: F401
    fb101_frequency_guard,
    fb102_never_true,
    fb103_always_true,
    fb104_ambiguous_arbitration,
    fb105_unused_declaration,
    fb106_shadowed_rule,
    fb107_stale_delay,
    fb108_blast_risk,
    fb109_no_quiet_hours,
    fb110_anonymous_rule,
    suppressions,
)
