"""What the fuzz run saw, per API operation: how many generated cases it sent and how they were
answered. The fuzz test (tests/test_api_fuzz.py) records every response here, fails an operation
that never answered 2xx, and prints the table at the end of its run."""

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    """The answers one operation gave, counted by status code."""

    statuses: Counter = field(default_factory=Counter)
    # A check failed (5xx, schema violation): the run reports that instead of the 2xx count.
    failed: bool = False

    def record(self, status_code: int) -> None:
        self.statuses[status_code] += 1

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    def count(self, first_digit: int) -> int:
        return sum(number for status, number in self.statuses.items() if status // 100 == first_digit)

    @property
    def successes(self) -> int:
        return self.count(2)


def no_success_message(label: str, tally: Tally) -> str:
    statuses = ", ".join(f"{status}: {number}" for status, number in sorted(tally.statuses.items())) or "none"
    return (
        f"{label} never answered 2xx in {tally.cases} generated cases ({statuses}): its success path "
        "and its 2xx schema went unchecked. Steer its parameters to seeded objects (STEERING in "
        "tests/test_api_fuzz.py) or, if it truly cannot succeed, name it in OPERATIONS_WITHOUT_2XX with the reason."
    )


def table(tallies: dict[str, Tally]) -> list[str]:
    """The report's lines: one row per operation, then the totals."""
    width = max((len(label) for label in tallies), default=10)
    lines = [f"{'operation':<{width}}  {'cases':>6}  {'2xx':>5}  {'4xx':>5}  {'5xx':>5}"]
    for label in sorted(tallies, key=lambda label: (label.split(" ", 1)[1], label)):
        tally = tallies[label]
        flag = "  <- no 2xx" if tally.successes == 0 else ""
        lines.append(
            f"{label:<{width}}  {tally.cases:>6}  {tally.successes:>5}  {tally.count(4):>5}  {tally.count(5):>5}{flag}"
        )
    totals = Tally(sum((tally.statuses for tally in tallies.values()), Counter()))
    lines.append(
        f"{f'{len(tallies)} operations':<{width}}  {totals.cases:>6}  {totals.successes:>5}  "
        f"{totals.count(4):>5}  {totals.count(5):>5}"
    )
    return lines
