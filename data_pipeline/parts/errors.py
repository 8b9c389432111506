"""What a wrong part name or parameter says: the errors and the did-you-mean behind them.

Why one module: a message names what was expected, what came in and how to fix it
(``docs`` of the style guide); the registry raises these, and the config layer reuses
:func:`did_you_mean` for its own keys, so both spell suggestions the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "SYNONYMS",
    "DuplicateNameError",
    "ParamsError",
    "UnknownNameError",
    "did_you_mean",
]

SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "lr": ("learning_rate", "learningrate", "lrate"),
    "weight_decay": ("l2", "wd", "decay"),
    "se_ratio": ("reduction", "reduction_ratio", "ratio", "r", "se_reduction"),
    "base_width": ("width", "channels", "base_channels", "features", "filters"),
    "iterations": ("iters", "steps", "num_iterations", "max_iterations", "n_iterations"),
    "folds": ("n_folds", "num_folds", "k", "n_splits"),
    "batch_size": ("batch", "bs"),
    "patch_size": ("patch", "patch_shape"),
    "patches_per_patient": ("samples_per_volume", "patches"),
    "num_samples": ("n_trials", "trials", "samples"),
    "max_failures": ("retries", "max_retries"),
    "cohort": ("dataset", "data_path", "path"),
    "num_groups": ("groups", "n_groups"),
    "overlap": ("patch_overlap",),
}
"""Other names people write for a setting; a typo of one of them still finds it."""


def did_you_mean(word: object, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (typos, case, dashes and :data:`SYNONYMS`), or None."""
    if not isinstance(word, str):
        return None
    pool: dict[str, str] = {}
    for name in candidates:
        pool.setdefault(name.lower(), name)
        for other in SYNONYMS.get(name, ()):
            pool.setdefault(other, name)
    typed = word.lower().replace("-", "_").strip()
    if typed in pool:
        return pool[typed]
    match = difflib.get_close_matches(typed, list(pool), n=1, cutoff=0.6)
    return pool[match[0]] if match else None


class UnknownNameError(KeyError):
    """A name that no part of a kind answers to; lists the known names and close matches.

    ``__str__`` is overridden because ``KeyError`` would print the message in quotes.

    Attributes:
        kind: The kind searched (``"kind"`` when the kind itself was unknown).
        name: The name asked for.
        known: The names available, sorted.
        suggestions: Close matches, best first (may be empty).
    """

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        self.suggestions = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        hint = (f" Did you mean {' or '.join(map(repr, self.suggestions))}?"
                if self.suggestions else "")
        message = (f"Unknown {kind} name {name!r}.{hint} Known {kind} names: "
                   f"{', '.join(self.known) or '(none registered)'}.")
        if kind != "kind":
            message += (f" To add one, decorate a builder with "
                        f"data_pipeline.parts.registry.registry({kind!r}).register('your_name', "
                        "params=YourParams) or ship it as a 'stroke_platform.plugins' entry point.")
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy with its fields (a trial's error crosses the Ray boundary)."""
        return type(self), (self.kind, self.name, self.known)


class DuplicateNameError(ValueError):
    """A second builder registered under a name that is already taken."""


class ParamsError(ValueError):
    """Parameters that the named part does not take, or values it refuses.

    The message names the part, each bad parameter (with a did-you-mean for an unknown
    one) and every parameter the part takes with its default, so a sweep file is fixed
    from the message alone.

    Attributes:
        kind: The part's kind (``"loss"``).
        name: The part's name (``"bce_dice"``).
        problems: ``(location below the part, message, value, suggestion)`` per problem.
        accepted: ``"param=default"`` for every parameter the part takes.
    """

    def __init__(self, kind: str, name: str,
                 problems: list[tuple[tuple[str | int, ...], str, Any, str | None]],
                 accepted: tuple[str, ...], causes: list[str] | None = None,
                 nested: list[dict[str, Any] | None] | None = None) -> None:
        self.kind, self.name, self.problems, self.accepted = kind, name, problems, accepted
        self.causes = causes or ["invalid"] * len(problems)
        self.nested = nested or [None] * len(problems)
        lines = []
        for loc, message, _value, suggestion in problems:
            where = ".".join(map(str, loc)) or "params"
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            lines.append(f"{where}: {message}{hint}")
        super().__init__(f"{kind} {name!r}: {'; '.join(lines)} ({self.parameters_text()})")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy with its fields (a trial's error crosses the Ray boundary)."""
        return type(self), (self.kind, self.name, self.problems, self.accepted, self.causes,
                            self.nested)

    def parameters_text(self) -> str:
        """``"its parameters: eps=1e-05, batch_dice=true"`` (or that it takes none)."""
        if not self.accepted:
            return f"{self.kind} {self.name!r} takes no parameters"
        return f"{self.kind} {self.name!r} parameters: {', '.join(self.accepted)}"
