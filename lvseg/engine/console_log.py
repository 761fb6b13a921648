"""What an lvseg run prints: one line on the console for each of mmengine's long records, all of it in the log file.

mmengine's Runner logs, before the first iteration, the system environment (~35 lines), the whole config
(~400 lines for an ADE20K config), the hooks of each stage (~90 lines) and, through
``DefaultOptimWrapperConstructor``, one ``paramwise_options`` line per option of each parameter (~80 for the
demo, hundreds for LV-ViT-S): an error or the first loss came after ~500 lines. Its ``MMLogger`` writes each
record to two handlers, the console (stdout) and the log file in the work dir. :func:`quiet_logger`, which
:meth:`lvseg.engine.runner.LvsegRunner.build_logger` applies, puts a :class:`ConsoleDigest` on the console
handler only, so the log file keeps every record:

- the environment: one line with the versions, the seed and the distributed set-up (``Distributed training:``
  and ``GPU number:`` as mmengine writes them);
- the hooks: one line naming them (the order at each stage stays in the log file);
- the config: nothing here; :meth:`~lvseg.engine.runner.LvsegRunner.dump_config` says in one line where it
  was written (the work dir, with the run policy's edits) once it has written it;
- ``paramwise_options`` lines: nothing here; :func:`parameter_groups_summary`, which
  :meth:`~lvseg.engine.runner.LvsegRunner.build_optim_wrapper` logs, counts the optimizer's groups in one line.

It also puts :class:`lvseg.utils.known_warnings.KnownLogWarnings` on the logger itself (console and file): the
third-party deprecation records listed there. The records are recognised by the text mmengine 0.10.7 gives them.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from mmengine.logging import MMLogger
from torch.optim import Optimizer

from ..utils.known_warnings import KnownLogWarnings

CONFIG = 'Config:\n'  # Runner._log_env: f'Config:\n{cfg.pretty_text}'
ENVIRONMENT = 'System environment:'  # Runner._log_env: '\n' + 60 dashes + '\nSystem environment:' + ...
HOOKS = 'Hooks will be executed in the following order:\n'  # Runner.__init__
PARAMWISE = 'paramwise_options -- '  # DefaultOptimWrapperConstructor.add_params, one per parameter and option
# The environment's entries on the console, as mmengine names them; also those named 'GPU <ids>' (the GPUs' model).
ENVIRONMENT_KEYS = ('Python', 'PyTorch', 'MMEngine', 'CUDA available', 'seed', 'Distributed launcher',
                    'Distributed training', 'GPU number')
_ENTRY = re.compile(r'^    ([^:]+): (.*)$')  # '    key: value', an entry of the environment
_HOOK = re.compile(r'^\((\w+)\s*\) (\w+)')  # '(VERY_HIGH   ) RuntimeInfoHook', a hook at a stage
# parameter names shown per group by parameter_groups_summary: 3, or 1 where there are more than 3 groups (one per
# depth and weight decay with layer-wise lr decay: 20 for the demo's 8-block LV-ViT)
SHOWN_NAMES = 3


def console_line(message: str, log_file: str | None) -> str | None:
    """What the console shows for a record whose message is ``message``: the message itself, one line in its
    place (the rest in ``log_file``), or None for nothing."""
    if message.startswith((CONFIG, PARAMWISE)):
        return None
    where = f'the log file {log_file}' if log_file else 'no log file (log_file is None)'
    if message.startswith(HOOKS):
        names = dict.fromkeys(match.group(2) for line in message.splitlines() if (match := _HOOK.match(line)))
        return f'hooks: {", ".join(names)} (their order at each stage: {where})'
    if message.lstrip('\n-').startswith(ENVIRONMENT):
        entries = [match.groups() for line in message.splitlines() if (match := _ENTRY.match(line))]
        kept = [f'{key}: {value.split(" ")[0] if key == "Python" else value}' for key, value in entries
                if key in ENVIRONMENT_KEYS or key.startswith('GPU ')]
        return f'environment: {", ".join(kept)} (all of it: {where})'
    return message


class ConsoleDigest(logging.Filter):
    """A filter for a console handler: it lets a record through, or hands the handler a copy of it with the one
    line of :func:`console_line` (the record itself, which the log file's handler sees after this one, is left
    as it is), or drops it.

    Args:
        handler (logging.Handler): the console handler this filter is added to.
        log_file (str | None): the log file that keeps the whole records, named in the short lines.
    """

    def __init__(self, handler: logging.Handler, log_file: str | None) -> None:
        super().__init__()
        self.handler = handler
        self.log_file = log_file

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or record.args:
            return True
        line = console_line(record.msg, self.log_file)
        if line == record.msg:
            return True
        if line is not None:
            self.handler.handle(logging.makeLogRecord({**record.__dict__, 'msg': line, 'args': None}))
        return False


def quiet_logger(logger: MMLogger) -> MMLogger:
    """Add :class:`~lvseg.utils.known_warnings.KnownLogWarnings` to ``logger`` and a :class:`ConsoleDigest` to
    its console handler (its ``StreamHandler`` that is no ``FileHandler``), once; return ``logger``."""
    if not any(isinstance(filter_, KnownLogWarnings) for filter_ in logger.filters):
        logger.addFilter(KnownLogWarnings())
    for handler in logger.handlers:
        is_console = isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
        if is_console and not any(isinstance(filter_, ConsoleDigest) for filter_ in handler.filters):
            handler.addFilter(ConsoleDigest(handler, logger.log_file))
    return logger


def parameter_groups_summary(optimizer: Optimizer, names: Mapping[int, str], label: str = 'optimizer') -> str:
    """One line that counts ``optimizer``'s parameter tensors by the options of their groups.

    mmengine's ``DefaultOptimWrapperConstructor`` makes one group per tensor when ``paramwise_cfg`` is set; this
    puts together the groups whose options are the same: ``lr`` and ``weight_decay`` as multiples of the
    optimizer's own (``lr_mult``, ``decay_mult``; the value itself where the optimizer's is 0), and any other
    option of the optimizer that differs from its default. The first :data:`SHOWN_NAMES` names of a group are
    shown, the first only where there are more groups than that. For the demo config: ``optimizer: 162 tensors in
    2 parameter groups: lr_mult 1 decay_mult 0: 78 tensors (backbone.cls_token, backbone.pos_embed,
    backbone.patch_embed.bn1.weight, ...); lr_mult 1 decay_mult 1: 84 tensors (backbone.patch_embed.conv1.weight,
    backbone.patch_embed.conv2.weight, backbone.patch_embed.conv3.weight, ...)``.

    Args:
        optimizer (Optimizer): the built optimizer.
        names (Mapping[int, str]): the name of each parameter by ``id(parameter)`` (``model.named_parameters()``).
        label (str): what the line starts with (``optimizer``, or ``optimizer[key]`` for an ``OptimWrapperDict``).
    """
    defaults = optimizer.defaults
    members: dict[str, list[str]] = {}  # the names of each group's tensors
    for group in optimizer.param_groups:
        members.setdefault(_options(group, defaults), []).extend(names.get(id(param), '?') for param in group['params'])
    shown = SHOWN_NAMES if len(members) <= SHOWN_NAMES else 1
    parts = []
    for options, tensors in members.items():
        more = ', ...' if len(tensors) > shown else ''
        count = f'{len(tensors)} tensor' + ('' if len(tensors) == 1 else 's')
        parts.append(f'{options}: {count} ({", ".join(tensors[:shown])}{more})')
    groups = f'{len(members)} parameter group' + ('' if len(members) == 1 else 's')
    total = sum(len(tensors) for tensors in members.values())
    return f'{label}: {total} tensors in {groups}: {"; ".join(parts)}'


def _options(group: Mapping, defaults: Mapping) -> str:
    """A parameter group's options, relative to the optimizer's ``defaults``, as text (see
    :func:`parameter_groups_summary`)."""
    described = []
    for key, mult in (('lr', 'lr_mult'), ('weight_decay', 'decay_mult')):
        if key in defaults:
            base, value = defaults[key], group.get(key, defaults[key])
            described.append(f'{mult} {value / base:.3g}' if base else f'{key} {value:.3g}')
    described += [f'{key} {group[key]}' for key in defaults
                  if key not in ('lr', 'weight_decay') and key in group and group[key] != defaults[key]]
    return ' '.join(described)
