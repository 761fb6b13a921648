"""``FormattedOnceConfig``: an mmengine ``Config`` that formats its text once per content.

mmengine's ``Config.pretty_text`` runs yapf over the whole config each time it is read, and a Runner reads it
again and again: when it logs the config, dumps it to the work dir, hands it to the visualizer and to the
``RuntimeInfoHook``, and for every checkpoint it saves (the text goes into the checkpoint's ``meta``). yapf is
slow enough for this to dominate short runs (docs/architecture.md#compatibility-notes says by how much).
:class:`lvseg.engine.runner.LvsegRunner` holds its config as this class, so the formatting runs once per distinct
content: the text is the same, and a changed option is formatted again.
"""
from __future__ import annotations

import copy

from mmengine.config import Config


class FormattedOnceConfig(Config):
    """A ``Config`` whose ``pretty_text`` is computed once for each content of the options and then reused."""

    @classmethod
    def copy_of(cls, cfg: Config) -> FormattedOnceConfig:
        """A deep copy of ``cfg`` as this class (everything ``Config`` keeps is copied, as its own ``__copy__``
        copies it: the instance's attributes)."""
        formatted = cls.__new__(cls)
        formatted.__dict__.update(copy.deepcopy(cfg).__dict__)
        return formatted

    @property
    def pretty_text(self) -> str:
        """mmengine's formatted text of the options, formatted again only when they changed."""
        content = repr(self.to_dict())
        cached = self.__dict__.get('_formatted_text')  # (content, text); pickling drops it (Config.__getstate__)
        if cached is None or cached[0] != content:
            cached = (content, super().pretty_text)
            object.__setattr__(self, '_formatted_text', cached)  # Config.__setattr__ would store it as an option
        return cached[1]
