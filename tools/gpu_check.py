"""Every CUDA path of lvseg and its GPU figures, in one run that needs nothing from the network.

    python tools/gpu_check.py REPORT_DIR [--dry-run] [--setup-seconds 240] [--limit-seconds 720]

Started by ``tools/gpu_check.sh`` (``make gpu-check``), which first stops where there is no GPU and sets the
environment up offline if needed. The steps, each in its own process with its log in REPORT_DIR, in the order of
what a short GPU slot should show first:

1. the tests marked ``cuda`` (``pytest -m cuda``: AMP in bf16 and in fp16 with the loss scaler, SyncBN through the
   tools' process group, the fused attention kernel, the annotator and the token-label targets on the GPU);
2. ``bench/train_step.py --device cuda --amp bf16`` and ``bench/seg_step.py --device cuda --amp bf16``;
3. the demo data (``tools/make_demo_data.py``), then 20 iterations of ``tools/pretrain.py`` (with the augmentation
   in the data loader workers, then with ``augment_on='device'``: decoded and augmented on the GPU) and of
   ``tools/train.py`` on the demo configs in bf16: the loss must stay finite and fall;
4. ``bench/data_pipeline.py`` and ``bench/device_pipeline.py`` where they exist (with ``--device cuda`` where
   they take it);
5. ``bench/train_step.py`` again with ``--compile`` (minutes of compiling).

Side by side, it then prints whether the device path can feed the train step: the images/s of decode + augment +
normalize of a batch on the GPU (``bench/device_pipeline.py``) over the images/s of the LV-ViT-S train step
(``bench/train_step.py``), and the images/s of the two pretraining runs.

It prints the time each step is allowed (their sum with the set-up is the budget, 12 minutes: a 15-minute GPU lease
less the machine's start) before it starts,
and writes ``report.md`` and ``report.json``: every figure against its goal (the goals below), every check, every
step's time. A goal missed is a finding, not a failure; a failed step or check makes the exit status 1.
``--limit-seconds`` starts no step past that time (set-up included) and cuts the running one short: the report
then shows what ran. ``--dry-run`` runs every step on the CPU at the smallest sizes (the CUDA tests skip): that is
how CI tests this script. There the benchmarks run in fp32 (bf16 is emulated on most CPUs, many times slower) for
one step on one thread, the tools in fp32 (their configs' AMP falls back on the CPU), and ``--compile`` with
``TORCH_COMPILE_DISABLE=1`` (inductor's C++ build takes minutes on a CPU).

The work is done by ``lvseg/infra/gpu_check/``: ``plan.py`` (the steps), ``run.py`` (running them under the time
limit), ``figures.py`` (reading their figures), ``judge.py`` (goals and checks) and ``report.py``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lvseg.infra.gpu_check import judge, plan, report, run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('report', type=Path, help='folder for the report and the logs (created)')
    parser.add_argument('--dry-run', action='store_true', help='every step on the CPU at the smallest sizes')
    parser.add_argument('--setup-seconds', type=float, default=0.0, help='time the set-up took (for the budget)')
    parser.add_argument('--limit-seconds', type=float, default=0.0,
                        help='stop the steps after this many seconds in all, set-up included, and report what ran '
                        '(a short GPU slot); 0: no limit')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = args.report.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    steps = plan.plan_steps(folder, args.dry_run)
    print('\n'.join(plan.budget_lines(steps, args.setup_seconds, args.dry_run)))
    seconds = run.run_steps(steps, folder, args.limit_seconds, args.setup_seconds)
    figures = judge.all_figures(steps)
    total = args.setup_seconds + seconds
    result = report.result(steps, figures, judge.judged_goals(figures, args.dry_run),
                           judge.checks(steps, figures, args.dry_run), args.dry_run, report.machine(),
                           args.setup_seconds, total)
    report.write(folder, result)
    print()
    print('\n'.join(report.summary_lines(result, folder, total)))
    return 1 if report.failed_checks(result) else 0


if __name__ == '__main__':
    sys.exit(main())
