"""Generate the README's results table (paper vs ours) from figures/*/claims.json.

    python ci/readme_table.py           # rewrite the table between the markers in README.md
    python ci/readme_table.py --check   # exit 1 if README.md is out of date
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
BENCH_START, BENCH_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def fmt(value) -> str:
    """A claim's value as the table shows it."""
    if value is None:
        return "not stated"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table() -> str:
    """The markdown table of every section's claims."""
    rows = ["| section | claim | ours | paper | what it measures |", "|---|---|---|---|---|"]
    for path in sorted(ROOT.glob("figures/*/claims.json")):
        section = path.parent.name
        for c in json.loads(path.read_text()):
            rows.append(f"| {section} | `{c['name']}` | {fmt(c['ours'])} | {fmt(c['paper'])} | {c['what']} |")
    return "\n".join(rows)


def benchmark() -> str:
    """The last benchmark's output (figures/benchmark.txt) as a code block."""
    path = ROOT / "figures" / "benchmark.txt"
    text = path.read_text().rstrip() if path.exists() else "no benchmark has been run yet: `make benchmark`"
    return f"```\n{text}\n```"


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """text with what lies between the markers start and end replaced by body."""
    if start not in text or end not in text:
        sys.exit(f"README.md lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(readme: str) -> str:
    """README text with the results table and the benchmark figures regenerated."""
    return replace_between(replace_between(readme, START, END, table()), BENCH_START, BENCH_END, benchmark())


def main() -> None:
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if "--check" in sys.argv:
        if new != old:
            sys.exit("README.md's results table is out of date: run `make readme`")
        print("README.md's results table is up to date")
    elif new != old:
        path.write_text(new)
        print("README.md's results table updated")


if __name__ == "__main__":
    main()
