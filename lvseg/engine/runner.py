"""``LvsegRunner``: mmengine's Runner with lvseg's run policy, chosen by ``runner_type='LvsegRunner'`` in every
lvseg config, so that every entry point behaves the same.

mmseg's and mim's ``train.py``/``test.py`` and lvseg's tools build the runner with ``RUNNERS.build(cfg)``, which
calls :meth:`LvsegRunner.from_cfg`; in a notebook, ``RUNNERS.build(cfg)`` or ``LvsegRunner.from_cfg(cfg)`` do
the same (mmengine's ``Runner.from_cfg`` is the base class's and knows nothing of ``runner_type``). What the
runner adds to mmengine's:

- the config edits of :mod:`.run_policy` (device fallbacks, atomic checkpoint hook, checked data sets, seeding
  pairing), applied before the Runner is built, each logged once and listed under ``run_policy`` in the config
  dumped to the work dir; the config checks of :mod:`.config_checks` before anything is built or loaded, and,
  before the edits, those of :func:`.config_keys.check_arguments` (each key of a hook, loop, optimizer wrapper
  or optimizer is an argument of its constructor);
- checkpoint files written through a temporary file and a rename (:meth:`save_checkpoint`);
- every checkpoint read with :func:`lvseg.checkpoints.safe_load.load_checkpoint` (weights only), the files the
  LV-ViT authors released (mmseg 0.x segmentors, classifiers) converted as they load
  (:func:`lvseg.checkpoints.released.adapt_released_checkpoint`), and loaded into the model only if it fits
  exactly: a missing, left-over or other-shaped tensor stops the run with one line naming the file, what it holds
  and the option that takes it (:func:`lvseg.checkpoints.fit.whole_model_misfit`, as ``tools/infer.py``), unless
  ``load_strict=False`` is set on purpose (:meth:`load_checkpoint`);
- ``--resume`` refuses in one line a file without a training state (a released or weights-only file: use
  ``load_from``), and in a moved or copied work dir resumes from that dir's checkpoint, saying so
  (:mod:`.resume_source`), and warns when the file's parameter schedule replaces another one of the config's
  (:mod:`.resumed_schedule`);
- plain-dict optimizer parameter groups, which ``compile=True`` needs (:meth:`build_optim_wrapper`);
- ``epoch`` and ``iter`` that read 0 without building a train loop (testing needs no training data);
- the config's text formatted once, not at every log, dump and checkpoint (:mod:`.formatted_config`);
- a console that shows one line for each of mmengine's long records (environment, config, hooks, the options
  of each parameter), which the log file in the work dir keeps whole, and none of the third-party deprecation
  records of :mod:`lvseg.utils.known_warnings` (:meth:`build_logger`, :meth:`dump_config`,
  :meth:`build_optim_wrapper`; :mod:`.console_log`);
- a warning when a segmentor trains from random initialisation.
"""
from __future__ import annotations

import os.path as osp
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from mmengine.config import Config
from mmengine.dist import master_only
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.logging import MMLogger
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_state_dict
from mmseg.registry import RUNNERS

from ..checkpoints.fit import CheckpointMismatchError, whole_model_misfit
from ..checkpoints.released import adapt_released_checkpoint
from ..checkpoints.safe_load import load_checkpoint
from ..checkpoints.whole_model import missing_training_state
from ..utils.atomic_write import atomic_write_path
from ..utils.compat import (
    built_train_loop,
    has_loaded_checkpoint,
    mark_checkpoint_loaded,
    requested_checkpoint,
    with_state_dict_metadata,
)
from .config_checks import check_config
from .config_keys import check_arguments
from .console_log import parameter_groups_summary, quiet_logger
from .device_fallbacks import init_cpu_process_group
from .formatted_config import FormattedOnceConfig
from .resume_source import latest_checkpoint
from .resumed_schedule import changed_schedule_message, schedule_spans
from .run_policy import apply_run_policy

MODULE_PREFIX = (r'^module\.', '')  # what DDP-wrapped checkpoints carry; mmengine strips it by default


@RUNNERS.register_module()
class LvsegRunner(Runner):
    """mmengine's ``Runner`` (same arguments) with lvseg's run policy; see the module.

    Config keys it reads besides mmengine's: ``load_strict`` (default True: a ``load_from`` / ``--resume``
    checkpoint must fill the model exactly; False loads what fits and logs what does not) and ``bad_samples``
    (see :mod:`lvseg.engine.bad_samples`).
    """

    _resuming_from: str | None = None  # the file resume() is loading, for load_checkpoint's training-state check

    @classmethod
    def from_cfg(cls, cfg: Config) -> LvsegRunner:
        """Apply the run policy to a copy of ``cfg``, check it, and build the runner from it. The runner keeps the
        config as a :class:`~.formatted_config.FormattedOnceConfig`."""
        cfg = FormattedOnceConfig.copy_of(cfg)
        check_arguments(cfg)
        changes = apply_run_policy(cfg)
        check_config(cfg, splits=())
        init_cpu_process_group(cfg.get('launcher', 'none'))
        cfg.run_policy = changes
        runner = super().from_cfg(cfg)
        for line in changes:
            runner.logger.info(f'run policy: {line}')
        return runner

    # ------------------------------------------------------------------ entry points
    def train(self):
        """Check the training and validation data and the pretrained weights, then train."""
        check_config(self.cfg, splits=('train', 'val'), initialises_weights=True)
        self._warn_if_from_scratch()
        return super().train()

    def val(self) -> dict:
        check_config(self.cfg, splits=('val',))
        return super().val()

    def test(self) -> dict:
        check_config(self.cfg, splits=('test',))
        return super().test()

    # ------------------------------------------------------------------ log
    def build_logger(self, log_level: int | str = 'INFO', log_file: str | None = None, **kwargs) -> MMLogger:
        """mmengine's logger (same arguments), whose console shows one line for each long record and which drops
        known third-party deprecation records (:func:`.console_log.quiet_logger`); its log file keeps the rest
        whole."""
        return quiet_logger(super().build_logger(log_level, log_file, **kwargs))

    @master_only
    def dump_config(self) -> None:
        """mmengine's (the config, run policy included, into the work dir, named as mmengine names it), then one
        line saying where: the console shows it in place of the config (the log file holds both)."""
        super().dump_config()
        name = osp.basename(self.cfg.filename) if self.cfg.filename is not None else f'{self.timestamp}.py'
        self.logger.info(f'config: {osp.join(self.work_dir, name)} (in full in the log file {self.logger.log_file})')

    # ------------------------------------------------------------------ progress
    @property
    def epoch(self) -> int:
        """The train loop's epoch; 0 when no train loop is built (see :attr:`iter`)."""
        loop = built_train_loop(self)
        return loop.epoch if loop is not None else 0

    @property
    def iter(self) -> int:
        """The train loop's iteration; 0 when no train loop is built. mmengine's property builds the train loop,
        and with it the training data set, whenever it is read: in ``test()`` mmseg's ``VisualizationHook`` reads it
        for every picture, so ``tools/test.py --show-dir`` failed (or indexed a whole training set) where only the
        test data were at hand."""
        loop = built_train_loop(self)
        return loop.iter if loop is not None else 0

    def _warn_if_from_scratch(self) -> None:
        model = self.cfg.get('model') or {}
        backbone = model.get('backbone') or {}
        init_cfg = backbone.get('init_cfg') or {}
        pretrained = (model.get('pretrained') or backbone.get('pretrained')
                      or (init_cfg.get('checkpoint') if init_cfg.get('type') == 'Pretrained' else None))
        load_from, resume = requested_checkpoint(self)
        if 'decode_head' in model and not (pretrained or load_from or resume):
            self.logger.warning('training the segmentor from random initialisation (model.pretrained is None): the '
                                'published figures assume ImageNet-pretrained backbone weights')

    # ------------------------------------------------------------------ checkpoints
    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, file_client_args: dict | None = None,
                        save_optimizer: bool = True, save_param_scheduler: bool = True, meta: dict | None = None,
                        by_epoch: bool = True, backend_args: dict | None = None) -> None:
        """mmengine's (same arguments), writing a local file through a temporary file beside it and a rename, so
        that a kill leaves the previous file or the complete new one, never a truncated one under the name.

        Rank 0 alone writes, as in mmengine, whose method is ``master_only`` too: every rank calls this, and a
        rank that made a temporary file without writing it would rename it, empty, over rank 0's checkpoint."""
        arguments = dict(file_client_args=file_client_args, save_optimizer=save_optimizer,
                         save_param_scheduler=save_param_scheduler, meta=meta, by_epoch=by_epoch,
                         backend_args=backend_args)
        if file_client_args is not None or not isinstance(get_file_backend(out_dir, backend_args=backend_args),
                                                          LocalBackend):
            super().save_checkpoint(out_dir, filename, **arguments)
            return
        with atomic_write_path(osp.join(out_dir, filename)) as part:
            super().save_checkpoint(out_dir, part.name, **arguments)

    def load_or_resume(self) -> None:
        """mmengine's, except that ``--resume`` without ``load_from`` takes the work dir's latest checkpoint by
        :func:`.resume_source.latest_checkpoint`, which finds it also in a moved or copied work dir and says which
        file it takes."""
        load_from, resume = requested_checkpoint(self)
        if has_loaded_checkpoint(self) or not (resume and load_from is None):
            super().load_or_resume()
            return
        source, note = latest_checkpoint(self.work_dir)
        if note:
            self.logger.info(note)
        if source is not None:
            self.resume(source)
            mark_checkpoint_loaded(self)

    def resume(self, filename: str, resume_optimizer: bool = True, resume_param_scheduler: bool = True,
               map_location: str | Callable = 'default') -> None:
        """mmengine's, refusing in one line a file without a training state (see :meth:`load_checkpoint`), and
        warning when the file's parameter schedule replaces another one of the config's
        (:mod:`.resumed_schedule`)."""
        configured = schedule_spans(self.param_schedulers)
        self._resuming_from = filename
        try:
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        finally:
            self._resuming_from = None
        changed = changed_schedule_message(configured, schedule_spans(self.param_schedulers), filename)
        if changed:
            self.logger.warning(changed)

    def load_checkpoint(self, filename: str, map_location: str | Callable = 'cpu', strict: bool = False,
                        revise_keys: Sequence[tuple[str, str]] = (MODULE_PREFIX,)) -> dict:
        """Read ``filename`` safely and load it into the model if it fits exactly (see the module).

        ``strict`` is mmengine's argument, which its Runner never sets: the config's ``load_strict`` decides.

        Raises:
            CheckpointMismatchError: the checkpoint does not fit and ``load_strict`` is not False; the message
                names the file and, by module, what is missing, left over or of another shape.
        """
        checkpoint = load_checkpoint(filename, map_location)
        if not isinstance(checkpoint, Mapping):
            raise CheckpointMismatchError(f'{filename}: expected a checkpoint dict, found a '
                                          f'{type(checkpoint).__name__}')
        if filename == self._resuming_from and missing_training_state(checkpoint):
            raise CheckpointMismatchError(
                f'{filename}: cannot resume from it: it holds no training state '
                f'({", ".join(missing_training_state(checkpoint))} missing), as a released, converted or '
                f'weights-only file does not; start from its weights with --cfg-options load_from={filename}, '
                'without --resume')
        checkpoint = adapt_released_checkpoint(checkpoint, self.model, filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if isinstance(model, BaseTTAModel):  # --tta: the checkpoint is the wrapped segmentor's (as mmengine loads it)
            model = model.module
        state_dict = _revised(checkpoint.get('state_dict', checkpoint), revise_keys)
        strict = strict or self.cfg.get('load_strict', True)
        problem = whole_model_misfit(state_dict, model.state_dict(), filename, advice=(
            "Give the checkpoint of this config's model, or load what fits on purpose with --cfg-options "
            'load_strict=False'))
        if problem:
            if strict:
                raise CheckpointMismatchError(problem)
            self.logger.warning(f'load_strict=False: loading the tensors that fit. {problem}')
        load_state_dict(model, state_dict, strict=False, logger=self.logger)
        mark_checkpoint_loaded(self)
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    # ------------------------------------------------------------------ optimizer
    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's, with each optimizer's parameter groups as plain dicts, and one line per optimizer that
        counts its groups (:func:`.console_log.parameter_groups_summary`) when it is built here: the console
        shows it in place of the constructor's ``paramwise_options`` lines (the log file holds both).

        mmengine 0.10.7's ``DefaultOptimWrapperConstructor`` puts the groups of ``paramwise_cfg`` into the
        optimizer's ``ConfigDict``, which makes each group a ``ConfigDict``; ``compile=True`` compiles the
        optimizer step too, and torch 2.14's dynamo cannot trace ``AdamW.step`` over such groups
        ("'UserDefinedDictVariable' object has no attribute 'items'"). The groups hold the same keys and values.
        """
        already_built = isinstance(optim_wrapper, (OptimWrapper, OptimWrapperDict))
        built = super().build_optim_wrapper(optim_wrapper)
        wrappers = built.items() if isinstance(built, OptimWrapperDict) else [(None, built)]
        model = self.model.module if is_model_wrapper(self.model) else self.model
        names = {id(param): name for name, param in model.named_parameters()}
        for key, wrapper in wrappers:
            if isinstance(wrapper, OptimWrapper):
                groups = wrapper.optimizer.param_groups
                groups[:] = [dict(group) for group in groups]
                if not already_built:
                    label = 'optimizer' if key is None else f'optimizer[{key}]'
                    self.logger.info(parameter_groups_summary(wrapper.optimizer, names, label))
        return built


def _revised(state_dict: dict, revise_keys: Sequence[tuple[str, str]]) -> OrderedDict:
    """``state_dict`` with each key rewritten by the ``(pattern, replacement)`` pairs, metadata kept."""
    revised = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return with_state_dict_metadata(revised, state_dict)  # BN versions, as torch saves them

