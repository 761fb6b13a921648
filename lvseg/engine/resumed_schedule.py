"""Saying when ``--resume`` keeps a parameter schedule other than the config's.

mmengine resumes a run as it was: each parameter scheduler loads its whole state from the checkpoint, its
``begin`` and ``end`` included, over those the config gave it. A run resumed with a larger ``max_iters`` (and the
schedules' ``end`` with it) therefore goes on past the old end with the rates where the old schedule stopped
(0 for the fine-tuning configs' ``PolyLR``), and nothing said so. :func:`schedule_spans` reads the spans of the
built schedulers before and after loading; :func:`changed_schedule_message` turns a difference into one warning.
"""
from __future__ import annotations

from collections.abc import Mapping

Span = tuple[str, int, int]  # (scheduler class, begin, end), in the steps it counts (iterations or epochs)


def schedule_spans(param_schedulers) -> list[Span]:
    """The ``(class name, begin, end)`` of every built scheduler in ``param_schedulers`` (a list, or a dict of
    lists for several optimizers, as mmengine holds them), in order; ``[]`` while they are still configs (a dict,
    a list of dicts or a dict of such lists) or None."""
    if isinstance(param_schedulers, Mapping) and 'type' not in param_schedulers:  # one entry per optimizer
        groups = [param_schedulers[name] for name in sorted(param_schedulers)]
    else:
        groups = [param_schedulers]
    spans = []
    for group in groups:
        schedulers = group if isinstance(group, (list, tuple)) else [group]
        spans += [(type(s).__name__, s.begin, s.end) for s in schedulers
                  if not isinstance(s, Mapping) and hasattr(s, 'begin') and hasattr(s, 'end')]  # built ones
    return spans


def changed_schedule_message(config: list[Span], resumed: list[Span], filename: str) -> str | None:
    """One line naming each scheduler whose span the checkpoint ``filename`` changed from the ``config``'s, what
    that means and what to do instead; ``None`` when the checkpoint kept every span."""
    changed = [(mine, theirs) for mine, theirs in zip(config, resumed) if mine != theirs]
    if not changed:
        return None
    spans = '; '.join(f'{name}: steps {begin}-{end} in the checkpoint, {c_begin}-{c_end} in the config'
                      for (_, c_begin, c_end), (name, begin, end) in changed)
    return (f'resuming {filename}: its parameter schedule is kept, not the config\'s ({spans}), as mmengine resumes '
            'a run as it was: past the end of a kept schedule its rate stays where that schedule stopped. To train '
            f'on the config\'s schedule, start a new run with load_from={filename} and without --resume (the '
            'weights, without the optimizer state).')
