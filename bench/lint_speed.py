"""Benchmark: how long `fbdsl lint` takes on 1,000 generated rules (target: under 2 s).

    python bench/lint_speed.py [--rules 1000]

Generates a deterministic rule set that exercises every check: rules on a few triggers at a
few priorities (so FB104 and FB106 compare many pairs), interval and enum conditions (FB102,
FB103), ledger guards (FB101), delays (FB107), sends without `via` (FB108). Times the lint in
process (best of 5, after one warm-up) and the whole `fbdsl lint` command (cold process,
best of 3), and prints how many findings of each code it made.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = """\
event cart_abandoned { cart_id: string  total: number  items: int = 0 }
event order_completed from "Order Completed" { cart_id: string = ""  total: number }
event ticket_resolved { category: "complaint" | "billing" | "delivery"  reopened: int = 0 }
customer { tier: "basic" | "premium" | "gold" = "basic" }
channel email, sms, push
team support
survey cart_exit { channels: email, push  cooldown: 90d }
survey order_csat { channels: email, sms }
message we_fixed_it { channels: email }
policy { limit 1 contact per 30d  quiet hours 21:00 to 09:00 }
"""
TRIGGERS = ("cart_abandoned", "order_completed")
TIERS = ("basic", "premium", "gold")


def generate(count: int) -> str:
    rules = [HEADER]
    for i in range(count):
        trigger = TRIGGERS[i % 2]
        tier = TIERS[i % 3]
        low, high = (i * 7) % 500, (i * 7) % 500 + 50 + i % 40
        shape = i % 4
        if shape == 0:
            rules.append(
                f"rule r{i}\n    priority {i % 5}\n    sample 50%\n"
                f"when {trigger} where total > {low}\n    and total < {high}\n"
                f'    and customer.tier == "{tier}"\nthen send survey "order_csat" via email\n'
            )
        elif shape == 1:
            rules.append(
                f"rule r{i} priority {i % 5} when {trigger} and last_contact > {i % 60 + 1}d "
                f'and total >= {low} then send survey "cart_exit" after {i % 9 + 1}d\n'
            )
        elif shape == 2:
            rules.append(
                f'rule r{i} when ticket_resolved where category == "complaint" '
                f"and reopened > {i % 4} or reopened < {i % 3}\n"
                f'then create task "t{i}" for support due 4h\n'
            )
        else:
            rules.append(
                f"rule r{i} priority {i % 3}\nwhen {trigger} where total > {high} "
                f'and customer.tier != "{tier}"\nthen send message "we_fixed_it"\n'
            )
    return "\n".join(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    args = parser.parse_args()

    from fbdsl.compiler.lint.config import LintConfig
    from fbdsl.compiler.lint.runner import lint_rule_sets

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.fbdsl"
        path.write_text(generate(args.rules))
        report = lint_rule_sets([[path]], LintConfig())
        assert report.rules == args.rules, report.diagnostics[:3]
        times = []
        for _ in range(5):
            start = time.perf_counter()
            report = lint_rule_sets([[path]], LintConfig())
            times.append(time.perf_counter() - start)
        cold = []
        for _ in range(3):
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "fbdsl.cli", "lint", "--format", "json", str(path)],
                capture_output=True,
                check=False,
            )
            cold.append(time.perf_counter() - start)
            assert done.returncode in (0, 1), done.stderr
    by_code = collections.Counter(d.code for d in report.diagnostics)
    print(f"rules: {args.rules}")
    print(f"findings: {dict(sorted(by_code.items()))}")
    print(f"lint (in-process: load, check, lint; best of 5): {min(times) * 1000:7.1f} ms")
    print(
        f"fbdsl lint, cold process (best of 3):           {min(cold) * 1000:7.1f} ms "
        f"(median {statistics.median(cold) * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
