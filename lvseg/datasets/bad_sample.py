"""The words every part of lvseg uses for a sample that cannot be read or does not fit its data set.

A sample goes bad where it is made (a data set's pipeline, the device-side decoding, the annotator's loader), and
the run decides what to do with it (:mod:`lvseg.engine.bad_samples`: stop naming the files, or skip it and count).
Both sides speak of it with these names, which live here, beside the samples, so that the data sets need nothing
from the engine.
"""
from __future__ import annotations

POLICIES = ('error', 'skip')  # stop at the first bad sample naming its files; or replace it by a good one and count
SKIPPED_KEY = 'skipped_bad_samples'  # data sample metainfo: the messages of the samples skipped for this one


class BadSampleError(ValueError):
    """A sample that cannot be loaded or does not fit its data set; the message names its files."""
