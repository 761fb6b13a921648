"""The GPU check (``make gpu-check``, ``tools/gpu_check.py``): every CUDA path of lvseg and its GPU figures, in one
run that needs nothing from the network.

- :mod:`.plan`: which steps, their commands, allowances and time-outs, and the budget they add up to;
- :mod:`.run`: running a step in a session of its own under a time limit, its output into its log;
- :mod:`.figures`: the figures read from a step's log (benchmarks, pytest's JUnit XML) or work dir (the tools);
- :mod:`.judge`: the goals and the checks, and the ratio of the device path to the train step;
- :mod:`.report`: ``report.json``, ``report.md`` and the lines printed at the end.
"""
