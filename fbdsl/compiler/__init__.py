"""The fbdsl compiler: parse, check, (later) compile to a rule graph, lint and format."""
