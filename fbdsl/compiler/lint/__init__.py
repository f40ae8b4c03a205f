"""`fbdsl lint`: findings for reviewers, each a stable FBxxx code with its documentation.

One module per code (`fb101_frequency_guard.py` ... `fb110_anonymous_rule.py`), registered in
`registry.py`; the analyses they share live in `conditions.py` and `regions.py` (what a
condition allows), `contact_facts.py` (what the policy covers) and `context.py`. `runner.py`
runs them over checked rule sets, `suppressions.py` applies `# fbdsl: ignore[...]`,
`config.py` reads the configuration, `report.py` and `sarif.py` render the findings.
"""
