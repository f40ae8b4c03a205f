"""Benchmark: how long `fbdsl check` takes on 1,000 generated rules.

    python bench/check_speed.py [--rules 1000]

Generates a deterministic rule set (half one-liners, half rules with options, a ledger
predicate, an enum trait, `after` and `unless`), then times parsing and checking in-process
(best of 5) and the whole `fbdsl check` command (cold process, best of 3).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = """\
event cart_abandoned { cart_id: string  total: number  items: int = 0 }
event order_completed from "Order Completed" { cart_id: string = ""  total: number }
customer { tier: "basic" | "premium" = "basic" }
channel email, sms, push
team support
survey cart_exit { channels: email, push  cooldown: 90d }
policy { limit 1 contact per 30d  quiet hours 21:00 to 09:00 }
"""


def generate(count: int) -> str:
    rules = [HEADER]
    for i in range(count):
        if i % 2:
            rules.append(
                f"rule r{i}\n    priority {i % 7}\n    sample 25%\n    holdout 10%\n"
                f"when cart_abandoned where total > {i}\n    and last_contact > 30d\n"
                '    and customer.tier == "premium"\n'
                'then send survey "cart_exit" via email after 2h unless order_completed\n'
            )
        else:
            rules.append(
                f"rule r{i} when cart_abandoned and last_contact > {i + 1}d "
                'then send survey "cart_exit"\n'
            )
    return "\n".join(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    args = parser.parse_args()

    from fbdsl.compiler.checker import check
    from fbdsl.compiler.loader import load_rule_set
    from fbdsl.compiler.parser import lark_parser

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.fbdsl"
        path.write_text(generate(args.rules))
        lark_parser()
        parse_times, check_times = [], []
        for _ in range(5):
            start = time.perf_counter()
            loaded = load_rule_set([path])
            parsed = time.perf_counter()
            result = check(loaded.files)
            checked = time.perf_counter()
            assert result.program is not None and len(result.program.rules) == args.rules
            parse_times.append(parsed - start)
            check_times.append(checked - parsed)
        cold = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "fbdsl.cli", "check", str(path)],
                check=True,
                capture_output=True,
            )
            cold.append(time.perf_counter() - start)
    print(f"rules: {args.rules}")
    print(f"parse (in-process, best of 5):  {min(parse_times) * 1000:7.1f} ms")
    print(f"check (in-process, best of 5):  {min(check_times) * 1000:7.1f} ms")
    total = min(p + c for p, c in zip(parse_times, check_times, strict=True))
    print(f"parse + check:                  {total * 1000:7.1f} ms")
    print(
        f"fbdsl check, cold process (best of 3): {min(cold) * 1000:7.1f} ms "
        f"(median {statistics.median(cold) * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
