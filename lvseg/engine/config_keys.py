"""Config keys and constructor arguments checked against the code that reads them, before anything is built.

mmengine takes a misspelt key without a word: ``--cfg-options trian_cfg.max_iters=2`` adds a key that nothing
reads (the run goes on with the config's schedule), ``train_cfg.max_iter=2`` and ``model.pretrianed=...`` fail
deep in a traceback once the object is built, and ``default_hooks.checkpoint.intreval=2`` passes through
``CheckpointHook``'s ``**kwargs`` to ``Runner.save_checkpoint``, which refuses it at the first save (iteration
16,000 in the ADE20K configs). The two checks here find these mistakes in seconds, each as one line naming the
key and the closest valid one, raised as :class:`~.config_checks.ConfigError`.

:func:`check_overrides` (``--cfg-options``, before they are merged): every dotted key must exist in the loaded
config (a list index must be in range), or be a new key that something reads:

- at the top level, a key that mmengine's Runner, mmseg's tools or lvseg read (:func:`read_top_level_keys`);
- in a dict that builds an object (it has a ``type``, looked up in the registries of the config's
  ``default_scope`` or of the dict's ``_scope_``; or it sits where mmengine builds a default type:
  ``train_cfg``, ``val_cfg``, ``test_cfg``, ``optim_wrapper``, ``log_processor``, the data loaders), an argument
  of that object's constructor (``**kwargs`` forwarded to a base class count as the base class's arguments; those
  that reach no constructor accept anything);
- in ``env_cfg``, ``randomness``, ``auto_scale_lr`` and ``bad_samples``, the keys their readers know;
- anywhere in a dict whose keys are names of the user's choosing or options handed whole to another library
  (:data:`FREE_FORM`: ``metainfo``, ``data_prefix``, ``paramwise_cfg``, ``clip_grad``, ``compile``, ...,
  ``model.train_cfg``, ``model.test_cfg``), and directly in ``default_hooks`` (a new hook, whose arguments
  :func:`check_arguments` checks).

Below a new key the same rules hold for the new dict (``randomness.seed`` where the config has no
``randomness``; ``model.backbone.init_cfg.checkpoint`` with ``model.backbone.init_cfg.type`` given too). Keys below
a value that is not a dict turn it into one where ``_delete_`` says so, as mmengine requires
(``model.backbone.arch._delete_=True model.backbone.arch.embed_dims=64`` where the config says ``arch='t-14'``):
what reads that value checks them when it is built.

A top-level key that exists but that nothing reads is a variable of the config file (``data_root``,
``max_iters``, ``num_classes``): Python copied its value into the keys that use it when the file was loaded, so
overriding it changes nothing, and the check says which keys to set instead.

:func:`check_arguments` (the whole config, as the runner gets it): every key of each hook (``default_hooks``,
``custom_hooks``), of the loops (``train_cfg``, ``val_cfg``, ``test_cfg``) and of the optimizer wrapper and its
optimizer is an argument of its constructor. A ``CheckpointHook`` hands the keys it does not take to the runner's
``save_checkpoint``, so those must be arguments of that method.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

import torch
from mmengine import registry as mmengine_registry
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, LogProcessor, Runner, TestLoop, ValLoop

from .config_checks import ConfigError
from .run_policy import MMENGINE_DEFAULT_HOOKS

# Top-level keys that mmengine's Runner reads from its config besides its constructor's arguments.
MMENGINE_TOP_LEVEL = ('model_wrapper_cfg', 'sync_bn', 'find_unused_parameters', 'activation_checkpointing',
                      'efficient_conv_bn_eval', 'compile', 'runner_type')
# Read by lvseg: lvseg.engine.device_fallbacks, augment_on, bad_samples, runner (LvsegRunner.load_checkpoint).
LVSEG_TOP_LEVEL = ('cpu_bf16', 'augment_on', 'bad_samples', 'load_strict')
MMSEG_TOP_LEVEL = ('tta_model', 'tta_pipeline')  # tools/test.py --tta
LOADED_WITH_THE_FILE = ('custom_imports',)  # read by Config.fromfile, before any override

# Dicts whose keys are names of the user's choosing, or options handed whole to another library: a new key
# below them is not checked.
FREE_FORM = ('metainfo', 'data_prefix', 'paramwise_cfg', 'custom_keys', 'mp_cfg', 'dist_cfg',
             'hparams', 'loss_scale', 'clip_grad', 'compile', 'init_kwargs', 'backend_args', 'file_client_args')
FREE_FORM_IN_MODELS = ('train_cfg', 'test_cfg')  # model.train_cfg / model.test_cfg: read key by key by the model

# Plain dicts that the runner reads key by key.
KNOWN_KEYS = {
    'env_cfg': ("mmengine's Runner.setup_env", ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit')),
    'auto_scale_lr': ("mmengine's Runner.scale_lr", ('enable', 'base_batch_size')),
    'bad_samples': ('lvseg.engine.bad_samples.guard_datasets', ('policy', 'max_skipped')),
}

# Keys the builders take out of a dict before calling the constructor, by registry.
_BUILDER_KEYS = {'HOOKS': ('priority',), 'PARAM_SCHEDULERS': ('convert_to_iter_based',)}
_ALWAYS = ('type', '_scope_', '_delete_')
# The arguments mmengine's CheckpointHook passes to Runner.save_checkpoint itself.
_PASSED_BY_CHECKPOINT_HOOK = ('out_dir', 'filename', 'file_client_args', 'save_optimizer', 'save_param_scheduler',
                              'meta', 'by_epoch', 'backend_args')
# Runner.build_dataloader's keys besides torch's DataLoader arguments.
_DATALOADER_KEYS = ('dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn', 'num_batch_per_epoch',
                    'disable_subprocess_warning')
_OPTIM_WRAPPER_KEYS = ('optimizer', 'constructor', 'paramwise_cfg')  # mmengine.optim.build_optim_wrapper

# Where a dict's ``type`` is looked up first, by the nearest key above it (then in every registry).
_REGISTRY_BY_KEY = {
    'default_hooks': 'HOOKS', 'custom_hooks': 'HOOKS', 'optim_wrapper': 'OPTIM_WRAPPERS', 'optimizer': 'OPTIMIZERS',
    'constructor': 'OPTIM_WRAPPER_CONSTRUCTORS', 'param_scheduler': 'PARAM_SCHEDULERS', 'val_evaluator': 'METRICS',
    'test_evaluator': 'METRICS', 'dataset': 'DATASETS', 'datasets': 'DATASETS', 'pipeline': 'TRANSFORMS',
    'transforms': 'TRANSFORMS', 'sampler': 'DATA_SAMPLERS', 'batch_sampler': 'DATA_SAMPLERS',
    'visualizer': 'VISUALIZERS', 'vis_backends': 'VISBACKENDS', 'log_processor': 'LOG_PROCESSORS',
    'init_cfg': 'WEIGHT_INITIALIZERS', 'model_wrapper_cfg': 'MODEL_WRAPPERS', 'collate_fn': 'FUNCTIONS',
    'model': 'MODELS', 'tta_model': 'MODELS', 'data_preprocessor': 'MODELS', 'tta_pipeline': 'TRANSFORMS',
    'train_cfg': 'LOOPS', 'val_cfg': 'LOOPS', 'test_cfg': 'LOOPS'}
_REGISTRIES = ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'LOOPS', 'OPTIM_WRAPPERS', 'OPTIMIZERS',
               'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR', 'DATA_SAMPLERS',
               'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'MODEL_WRAPPERS',
               'FUNCTIONS')


@dataclass(frozen=True)
class Consumer:
    """What reads the keys of a config dict: ``name`` (a class, or a function), ``accepted`` the keys it takes
    (None: any), ``note`` a remark for a message about a key it refuses; ``builds``: whether the dict is the
    arguments of ``name`` (else ``name`` reads it key by key)."""

    name: str
    accepted: frozenset[str] | None
    note: str = ''
    builds: bool = True

    def refusal(self, where: str, key: str) -> str:
        """Why the dict at ``where`` cannot hold ``key``, with the closest key it can hold."""
        refused = (f'{where} builds {self.name}, which takes no argument {key!r}' if self.builds else
                   f'{self.name} reads no key {key!r} in {where}')
        return f'{refused}{self.note}{_suggestion(key, self.accepted)}'


# ---------------------------------------------------------------------------------------------- --cfg-options
def check_overrides(cfg: Config, options: Mapping[str, object]) -> None:
    """Raise :class:`ConfigError`, one line per key, if a key of ``options`` (``--cfg-options``, dotted) is
    neither in ``cfg`` (the config as loaded, before the options are merged) nor a new key that something reads
    (see the module)."""
    if not options:
        return
    check = _OverrideCheck(cfg, options)
    problems = [problem for key in options if (problem := check.problem(key))]
    if problems:
        raise ConfigError('\n'.join(problems))


def read_top_level_keys(cfg: Config) -> frozenset[str]:
    """The top-level keys that something reads after the config is loaded: the runner's constructor arguments
    (``Runner.from_cfg`` passes each), mmengine's other keys, mmseg's tools', lvseg's."""
    arguments = set(inspect.signature(_runner(cfg).__init__).parameters) - {'self', 'cfg'}
    return frozenset(arguments | set(MMENGINE_TOP_LEVEL) | set(LVSEG_TOP_LEVEL) | set(MMSEG_TOP_LEVEL))


class _OverrideCheck:
    """The keys of ``options`` walked through the config ``cfg`` as loaded."""

    def __init__(self, cfg: Config, options: Mapping[str, object]) -> None:
        self.tree = cfg.to_dict()
        self.options = options
        self.top_level = read_top_level_keys(cfg)
        if isinstance(self.tree.get('model'), Mapping) and 'data_preprocessor' in self.tree['model']:
            self.top_level -= {'data_preprocessor'}  # the Runner passes it only to a model that has none
        self.scope = _scope_of(cfg)
        self.runner = _runner(cfg)

    def problem(self, key: str) -> str | None:
        """What is wrong with the option ``key`` (one line), or None."""
        node: object = self.tree
        path: tuple[str, ...] = ()
        for part in key.split('.'):
            where = '.'.join(path)
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    return (f'--cfg-options {key}: {where} is a list of {len(node)} items: expected an index from 0 '
                            f'to {len(node) - 1} after {where}.')
                node, path = node[int(part)], (*path, part)
                continue
            if not isinstance(node, Mapping):
                if f'{where}._delete_' in self.options:
                    # mmengine replaces the value by a dict of the options below it (``arch._delete_=True
                    # arch.embed_dims=64`` turns ``arch='t-14'`` into a dict): what reads ``where`` checks its keys
                    return None
                return (f'--cfg-options {key}: {where} is {node!r}, which has no keys: set {where}=VALUE as a whole, '
                        f'or replace it by a dict with {where}._delete_=True')
            if part in node:
                if not path and part not in self.top_level:
                    return self._variable_problem(key, part)
                node, path = node[part], (*path, part)
                continue
            problem = self._new_key_problem(key, path, node, part)
            if problem:
                return problem
            node, path = {}, (*path, part)  # a new dict, if the key goes on: what builds it decides its keys
        return None

    def _new_key_problem(self, key: str, path: tuple[str, ...], node: Mapping, part: str) -> str | None:
        if part in _ALWAYS:
            return None
        if not path:
            if part in self.top_level:
                return None
            return (f'--cfg-options {key}: the config has no key {part!r}, and nothing reads one'
                    f'{_suggestion(part, set(self.tree) & self.top_level or self.top_level)}')
        if _free_form(path):
            return None
        where = '.'.join(path)
        # a 'type' or '_scope_' given in the same --cfg-options decides what builds the dict
        given = {name: self.options[f'{where}.{name}'] for name in ('type', '_scope_') if f'{where}.{name}' in
                 self.options}
        consumer = consumer_of(path, {**node, **given}, _scope_at(self.tree, path, self.scope), self.runner)
        if consumer is None and path[0] == 'default_hooks' and len(path) == 2 and not node:
            return (f'--cfg-options {key}: the config has no hook {path[1]!r}, and a new one needs a type'
                    f'{_suggestion(path[1], self.tree["default_hooks"])}')
        if consumer is None:
            return (f"--cfg-options {key}: {where} has no key {part!r} (a dict without a type takes no new keys)"
                    f'{_suggestion(part, node)}')
        if consumer.accepted is None or part in consumer.accepted:
            return None
        return f'--cfg-options {key}: {consumer.refusal(where, part)}'

    def _variable_problem(self, key: str, name: str) -> str:
        if name in LOADED_WITH_THE_FILE:
            return (f'--cfg-options {key}: {name} is read when the config file is loaded, before any override: set '
                    'it in a config file')
        users = self._keys_holding(name)
        instead = (f'set {", ".join(users[:4])}{" ..." if len(users) > 4 else ""} instead' if users else
                   'set the keys that use it instead')
        return (f'--cfg-options {key}: {name} is a variable of the config file: its value was copied into the keys '
                f'that use it when the file was loaded, so setting it changes nothing; {instead}')

    def _keys_holding(self, variable: str) -> list[str]:
        """The keys, below the top-level keys that are read, named as the top-level ``variable`` or else holding
        its value."""
        leaves = [(path, value) for path, value in _leaves(self.tree) if path.split('.', 1)[0] in self.top_level]
        named = [path for path, _ in leaves if path.rsplit('.', 1)[-1] == variable]
        value = self.tree[variable]
        if named or value is None or isinstance(value, bool):
            return named
        return [path for path, held in leaves if held == value and type(held) is type(value)]


def _leaves(node: object, path: str = '') -> Iterator[tuple[str, object]]:
    """``(dotted path, value)`` of every key and list item below ``node``, dicts and lists too."""
    items = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        here = f'{path}.{key}' if path else str(key)
        if path:
            yield here, value
        yield from _leaves(value, here)


def _free_form(path: tuple[str, ...]) -> bool:
    """Whether the dict at ``path`` takes new keys unchecked: one of :data:`FREE_FORM` or below one, or
    ``default_hooks`` itself (its keys name hooks; each hook's arguments are checked)."""
    names = [part for part in path if not part.isdigit()]
    return path == ('default_hooks',) or any(name in FREE_FORM for name in names) or (
        len(names) >= 2 and names[-1] in FREE_FORM_IN_MODELS and names[0] in ('model', 'tta_model'))


# ---------------------------------------------------------------------------------------------- arguments
def check_arguments(cfg: Config) -> None:
    """Raise :class:`ConfigError`, one line per key, if a hook, a loop, the optimizer wrapper or its optimizer
    is given a key that its constructor does not take (see the module)."""
    tree = cfg.to_dict()
    scope, runner = _scope_of(cfg), _runner(cfg)
    problems = []
    hooks = tree.get('default_hooks') or {}
    for name, hook in hooks.items():
        if isinstance(hook, Mapping) and 'type' not in hook:
            others = (set(hooks) | set(MMENGINE_DEFAULT_HOOKS)) - {name}
            problems.append(f'default_hooks.{name}: a hook without a type{_suggestion(name, others)}')
        else:
            problems += _argument_problems(tree, ('default_hooks', name), hook, scope, runner)
    for i, hook in enumerate(tree.get('custom_hooks') or []):
        problems += _argument_problems(tree, ('custom_hooks', str(i)), hook, scope, runner)
    train_loop = tree.get('train_cfg')
    if isinstance(train_loop, Mapping) and ('type' in train_loop) == ('by_epoch' in train_loop):
        problems.append('train_cfg: mmengine needs exactly one of type (a loop, e.g. IterBasedTrainLoop) and by_epoch '
                        '(True for max_epochs, False for max_iters)')
    for name in ('train_cfg', 'val_cfg', 'test_cfg', 'optim_wrapper'):
        problems += _argument_problems(tree, (name,), tree.get(name), scope, runner)
    wrapper = tree.get('optim_wrapper')
    if isinstance(wrapper, Mapping) and _default_constructor(wrapper, scope):
        problems += _argument_problems(tree, ('optim_wrapper', 'optimizer'), wrapper.get('optimizer'), scope, runner)
    if problems:
        raise ConfigError('\n'.join(problems))


def _argument_problems(tree: dict, path: tuple[str, ...], node: object, scope: str, runner: type) -> list[str]:
    if not isinstance(node, Mapping):  # None, or an object built already
        return []
    consumer = consumer_of(path, node, _scope_at(tree, path, scope), runner)
    if consumer is None or consumer.accepted is None:
        return []
    where = '.'.join(path)
    return [f'{where}.{key}: {consumer.refusal(where, key)}'
            for key in node if key not in consumer.accepted and key not in _ALWAYS]


def _default_constructor(wrapper: Mapping, scope: str) -> bool:
    """Whether ``optim_wrapper`` is built by mmengine's default constructor (or a subclass), which builds
    ``optim_wrapper.optimizer`` from its ``type``."""
    constructor = wrapper.get('constructor', DefaultOptimWrapperConstructor)
    if isinstance(constructor, str):
        constructor = _lookup(constructor, 'OPTIM_WRAPPER_CONSTRUCTORS', scope)
    return inspect.isclass(constructor) and issubclass(constructor, DefaultOptimWrapperConstructor) \
        and isinstance(wrapper.get('optimizer'), Mapping)


# ---------------------------------------------------------------------------------------------- consumers
def consumer_of(path: tuple[str, ...], node: Mapping, scope: str, runner: type) -> Consumer | None:
    """What reads the keys of the dict ``node`` at ``path`` (a tuple of keys, list indices as strings); None for a
    plain dict, whose keys nothing here can check."""
    if len(path) == 1 and path[0] in KNOWN_KEYS:
        return Consumer(KNOWN_KEYS[path[0]][0], frozenset(KNOWN_KEYS[path[0]][1]), builds=False)
    if path == ('randomness',):
        consumer = _consumer_of_callable(f'{runner.__name__}.set_randomness', runner.set_randomness)
        return Consumer(consumer.name, consumer.accepted, builds=False)
    target = _default_type(path, node) if 'type' not in node else node['type']
    if isinstance(target, str):
        target = _lookup(target, _registry_for(path), node.get('_scope_', scope))
    if target is None or not callable(target):
        return None  # no type, or one this check cannot find: the registry says so when it builds the dict
    consumer = _consumer_of_callable(getattr(target, '__name__', repr(target)), target)
    extra = [*_BUILDER_KEYS.get(_registry_for(path), ())]
    if path == ('optim_wrapper',):
        extra += _OPTIM_WRAPPER_KEYS
    elif len(path) == 1 and path[0].endswith('_dataloader'):
        extra += _DATALOADER_KEYS
    elif path == ('train_cfg',):
        extra.append('by_epoch')
    if inspect.isclass(target) and issubclass(target, CheckpointHook):
        return _checkpoint_hook_consumer(target, runner, extra)
    if consumer.accepted is None:
        return consumer
    return Consumer(consumer.name, consumer.accepted | set(extra))


def _default_type(path: tuple[str, ...], node: Mapping) -> object:
    """The class mmengine builds for a dict without a ``type`` at ``path``; None where it builds none."""
    if len(path) != 1:
        return None
    name = path[0]
    if name == 'train_cfg':
        by_epoch = node.get('by_epoch', 'max_iters' not in node)
        return EpochBasedTrainLoop if by_epoch else IterBasedTrainLoop
    if name.endswith('_dataloader'):
        return torch.utils.data.DataLoader
    return {'val_cfg': ValLoop, 'test_cfg': TestLoop, 'optim_wrapper': OptimWrapper, 'log_processor': LogProcessor,
            'model_wrapper_cfg': MMDistributedDataParallel}.get(name)


def _checkpoint_hook_consumer(hook: type, runner: type, extra: list[str]) -> Consumer:
    """A ``CheckpointHook`` passes the keys it does not take to ``runner.save_checkpoint`` at every save."""
    own = _mro_arguments(hook)[0] | set(extra)
    save = _consumer_of_callable('save_checkpoint', runner.save_checkpoint)
    if save.accepted is None:
        return Consumer(hook.__name__, None)
    return Consumer(hook.__name__, frozenset(own | (save.accepted - set(_PASSED_BY_CHECKPOINT_HOOK))),
                    f' (CheckpointHook would pass it to {runner.__name__}.save_checkpoint at the first save, which '
                    'takes no such argument either)')


def _consumer_of_callable(name: str, target: Callable) -> Consumer:
    if inspect.isclass(target):
        names, takes_any = _mro_arguments(target)
        return Consumer(name, None if takes_any else frozenset(names))
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return Consumer(name, None)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return Consumer(name, None)
    return Consumer(name, frozenset(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
                    - {'self'})


def _mro_arguments(cls: type) -> tuple[set[str], bool]:
    """The keyword arguments that constructing ``cls`` takes, following ``**kwargs`` to the base classes'
    constructors; and whether it takes any keyword (a ``**kwargs`` that reaches no constructor)."""
    names: set[str] = set()
    forwards = False
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object:
            return names, forwards
        if klass is torch.nn.Module:  # its *args, **kwargs refuse anything
            return names, False
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return names, True
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {'self'}
        forwards = any(p.kind is p.VAR_KEYWORD for p in parameters)
        if not forwards:
            return names, False
    return names, forwards


# ---------------------------------------------------------------------------------------------- registries
def _scope_of(cfg: Config) -> str:
    return cfg.get('default_scope') or 'mmengine'  # as Runner.from_cfg


def _scope_at(tree: dict, path: tuple[str, ...], scope: str) -> str:
    """The ``_scope_`` of the nearest dict above ``path`` (builders build what a dict holds in its scope)."""
    node: object = tree
    for part in path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, Mapping) and node.get('_scope_'):
            scope = node['_scope_']
    return scope


def _runner(cfg: Config) -> type:
    runner = cfg.get('runner_type', 'Runner')
    runner = _lookup(runner, 'RUNNERS', _scope_of(cfg)) if isinstance(runner, str) else runner
    return runner if inspect.isclass(runner) and issubclass(runner, Runner) else Runner


def _registry_for(path: tuple[str, ...]) -> str | None:
    for i in range(len(path) - 1, -1, -1):
        name = path[i]
        if name in ('train_cfg', 'val_cfg', 'test_cfg') and i > 0:
            continue  # model.train_cfg, model.test_cfg: plain dicts
        if name in _REGISTRY_BY_KEY:
            return _REGISTRY_BY_KEY[name]
    return None


def _lookup(type_name: str, registry: str | None, scope: str) -> object:
    """The class or function registered as ``type_name``, first in ``registry`` then in the others, in ``scope``."""
    for name in ([registry] if registry else []) + [r for r in _REGISTRIES if r != registry]:
        found = _scoped_registry(name, scope).get(type_name)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=None)
def _scoped_registry(name: str, scope: str) -> mmengine_registry.Registry:
    with getattr(mmengine_registry, name).switch_scope_and_registry(scope) as registry:
        return registry


def _suggestion(word: str, candidates: object) -> str:
    """': did you mean X?' for the closest of ``candidates``, else ': expected one of ...'."""
    candidates = sorted(str(c) for c in candidates if str(c) not in _ALWAYS)
    close = difflib.get_close_matches(word, candidates, n=1)
    if close:
        return f': did you mean {close[0]}?'
    if not candidates:
        return ''
    shown = ', '.join(candidates[:12]) + (f' (and {len(candidates) - 12} more)' if len(candidates) > 12 else '')
    return f': expected one of {shown}'
