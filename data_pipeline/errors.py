"""Error types for bad input data.

Why one module: every reader raises the same type so that a cohort loader can collect
the failures of some cases and go on with the others, and so that a message can be
checked for identifiers in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DataError"]


class DataError(ValueError):
    """Input data is unusable: names the pseudonymous case key and what is wrong.

    Messages must never hold DICOM identifiers (PatientName, PatientID, dates, UIDs);
    they name the case key and the position of the file in the series instead.
    """

    def __init__(self, case_key: str, problem: str) -> None:
        self.case_key = case_key
        self.problem = problem
        super().__init__(f"case {case_key}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy with its fields (a trial's error crosses the Ray boundary)."""
        return type(self), (self.case_key, self.problem)
