"""Bad input: stop with an error naming the file and record, or skip it, count it, report it.

Every builder and the mpii_json training source route each problem through one BadInputReport, so that
nothing is dropped silently: with on_bad_input="raise" the first problem stops the build (or the run, before
its first step); with "skip" each is logged as a warning when found, counted by kind, summarised at the end
(and, for a build, stored in the dataset's metadata.json). The checks themselves: ltsh_jax.data.validation.
Notes are things the source itself marks (e.g. MPII rectangles without keypoints): counted, never fatal.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

_LOG = logging.getLogger(__name__)

ON_BAD_INPUT = ("raise", "skip")


class BadInputError(ValueError):
    """A build or a training source stopped at bad input; the message names the file and the record."""


BUILD_HINT = "build with on_bad_input='skip' to skip and report such input"


@dataclasses.dataclass
class BadInputReport:
    """Problems (skipped records) and notes of one build or source, by kind, in the order found.

    `hint` ends the error of mode "raise": how to skip instead (a build flag, a config field).
    """

    on_bad_input: str = "raise"
    hint: str = BUILD_HINT
    problems: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if self.on_bad_input not in ON_BAD_INPUT:
            raise ValueError(f"on_bad_input must be one of {ON_BAD_INPUT}, got {self.on_bad_input!r}")

    def problem(self, kind: str, message: str) -> None:
        """Raises BadInputError (mode "raise") or logs and counts the skipped record (mode "skip")."""
        if self.on_bad_input == "raise":
            raise BadInputError(f"{message} [{kind}; {self.hint}]")
        _LOG.warning("bad input, skipped [%s]: %s", kind, message)
        self.problems.append((kind, message))

    def note(self, kind: str, message: str) -> None:
        """Counts something the source marks itself (not an error), logged at info level."""
        _LOG.info("note [%s]: %s", kind, message)
        self.notes.append((kind, message))

    @property
    def problem_counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(kind for kind, _ in self.problems).items()))

    @property
    def note_counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(kind for kind, _ in self.notes).items()))

    def summary(self) -> str:
        """One paragraph: counts by kind, then the first few messages of each kind."""
        if not self.problems and not self.notes:
            return "no bad input"
        lines = [f"skipped bad input: {sum(self.problem_counts.values())} {self.problem_counts}"]
        lines.append(f"notes: {self.note_counts}")
        for kind in self.problem_counts:
            examples = [m for k, m in self.problems if k == kind][:3]
            lines += [f"  {kind}: {m}" for m in examples]
        return "\n".join(lines)

    def log_summary(self, what: str = "build") -> None:
        (_LOG.warning if self.problems else _LOG.info)("%s report:\n%s", what, self.summary())

    def as_metadata(self) -> dict:
        """JSON-ready record of the report, stored under the dataset's metadata "build_report"."""
        return {
            "on_bad_input": self.on_bad_input,
            "problem_counts": self.problem_counts,
            "note_counts": self.note_counts,
            "problems": [list(p) for p in self.problems],
        }
