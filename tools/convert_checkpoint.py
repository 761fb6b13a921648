"""Convert a released LV-ViT file (or an lvseg pretraining checkpoint) into a checkpoint lvseg loads.

    python tools/convert_checkpoint.py upernet_lvvit_s.pth upernet_lvvit_s_mmseg1.pth [--config CONFIG]
    python tools/convert_checkpoint.py lvvit_s-26M-224-83.3.pth.tar pretrain/lvvit_s_backbone.pth [--img-size 512]
    python tools/convert_checkpoint.py lvvit_s-26M-224-83.3.pth.tar lvvit_s_classifier.pth --keep-heads

An official ADE20K segmentor (mmseg 0.x, ``upernet_lvvit_{s,m,l}.pth``) becomes an mmseg 1.x checkpoint of lvseg's
UperNet + LV-ViT (``backbone.side_layerK`` -> ``backbone.side_layers.K-1``, the 0.x optimizer state dropped) for
``tools/test.py`` and ``load_from`` (which also take the official file as it is, converting it as they load). A
classifier becomes backbone weights for ``model.pretrained`` / ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``:
heads dropped and, with ``--img-size``, ``pos_embed`` resized to that grid; with ``--keep-heads`` a classifier
becomes a whole ``TokenLabelingClassifier`` checkpoint (backbone, ``head``, ``aux_head``) for ``tools/test.py``
with ``configs/official/lvvit-*``. A segmentor stays whole (``model.pretrained`` takes its backbone as it is).
``--config`` checks that the output serves that config, and writes nothing otherwise: a whole model must load
strictly into its model, backbone weights into its backbone (as ``model.pretrained`` loads them). The output holds
``{'state_dict': {...}, 'meta': {...}}``. Works offline; loads the input with ``torch.load(weights_only=True)``
and refuses a file that holds other Python objects, unless ``--unsafe-load`` (or ``LVSEG_UNSAFE_LOAD=1``) is
given for a file you trust. A source that is missing, truncated, not a torch file or not weights, or an output
folder that cannot be written, stops with one ``error: <file>: ...`` line and exit status 2 (``--debug``: the
traceback).
"""
import argparse
from collections.abc import Mapping
from pathlib import Path

from lvseg.checkpoints import convert_lvvit_checkpoint, convert_released_checkpoint
from lvseg.checkpoints.fit import CheckpointMismatchError, whole_model_misfit
from lvseg.checkpoints.lvvit import resize_square_pos_embed
from lvseg.checkpoints.safe_load import (
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    allow_unsafe_load,
    load_checkpoint_file,
)
from lvseg.checkpoints.unwrap import WRAPPER_KEYS, unwrap_state_dict
from lvseg.utils.atomic_write import save_atomically
from lvseg.utils.known_warnings import ignore_known_warnings
from lvseg.utils.user_errors import (
    UserError,
    add_debug_argument,
    require_file,
    require_writable_folder,
    user_errors,
)


def load_source(path: str) -> Mapping:
    """The checkpoint in ``path`` (:func:`~lvseg.checkpoints.safe_load.load_checkpoint_file`); a
    :class:`~lvseg.utils.user_errors.UserError` naming the file unless it holds weights: a dict of tensors, or
    one under a key of :data:`~lvseg.checkpoints.unwrap.WRAPPER_KEYS`."""
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(checkpoint, Mapping):
        raise UserError(f'{path}: holds a {type(checkpoint).__name__}, not checkpoint weights (a dict of tensors, '
                        f'or one under {"/".join(WRAPPER_KEYS)}); give a checkpoint file')
    try:
        unwrap_state_dict(checkpoint)
    except TypeError as error:
        raise UserError(f'{path}: not checkpoint weights: {error}') from None
    return checkpoint


@user_errors(UnsafeCheckpointError, UnreadableCheckpointError, CheckpointMismatchError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official LV-ViT classifier or segmentor, or lvseg pretraining checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--img-size', type=int, nargs='+', help='resize pos_embed for this input size (H [W])')
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--no-ema', action='store_true',
                        help='a file that holds both (timm\'s state_dict_ema): take the raw weights, not the EMA ones')
    parser.add_argument('--keep-heads', action='store_true',
                        help='a classifier: write the whole classifier (for tools/test.py), not the backbone alone')
    parser.add_argument('--config', help='check that the output serves this config before writing it: a whole '
                        'model loads strictly into its model, backbone weights into its backbone')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load a source that holds arbitrary Python objects (only for files you trust)')
    add_debug_argument(parser)
    args = parser.parse_args()

    if args.unsafe_load:
        allow_unsafe_load()
    require_writable_folder(Path(args.dst).parent, 'output path')
    if args.config:
        require_file(args.config, 'config')
    checkpoint = load_source(args.src)
    if args.no_ema:
        checkpoint.pop('state_dict_ema', None)
    try:
        converted = convert_released_checkpoint(checkpoint)
    except ValueError as error:
        raise UserError(f'{args.src}: {error}') from None
    pos_grid = None
    if args.img_size:
        height, width = (args.img_size * 2)[:2]
        pos_grid = (height // args.patch_size, width // args.patch_size)

    meta = dict(source=args.src, pos_grid=pos_grid)
    whole_state = unwrap_state_dict(converted, prefer_ema=not args.no_ema)
    whole = args.keep_heads or any(key.startswith('decode_head.') for key in whole_state)
    if whole:
        state_dict, dropped = whole_state, []
        if pos_grid is not None:
            state_dict['backbone.pos_embed'] = resize_square_pos_embed(state_dict['backbone.pos_embed'], pos_grid)
        if converted is not checkpoint:
            meta = dict(converted.get('meta') or {}, **meta)
    else:
        state_dict, dropped = convert_lvvit_checkpoint(converted, pos_grid=pos_grid, prefer_ema=not args.no_ema)
    if args.config:
        check_serves(state_dict, whole, args.config, args.src)
    save_atomically({'state_dict': state_dict, 'meta': meta}, args.dst)
    print(f'wrote {"the whole model" if whole else "backbone weights"}, {len(state_dict)} tensors, to {args.dst}' +
          (f'; dropped {len(dropped)} ({", ".join(dict.fromkeys(key.split(".")[0] for key in dropped))})'
           if dropped else ''))


def check_serves(state_dict: dict, whole: bool, config: str, source: str) -> None:
    """Stop, writing nothing, unless the output serves ``config``'s model: whole-model weights load strictly into
    it (as ``tools/test.py`` and ``load_from`` load them), backbone weights into its backbone (as
    ``model.pretrained`` loads them)."""
    model = build_model(config)
    if whole:
        problem = whole_model_misfit(state_dict, model.state_dict(), source, advice=(
            f'Nothing written: {config} is not the config of this file\'s model (configs/official/ holds those of '
            'the released files)'))
        if problem:
            raise SystemExit(f'error: {problem}')
        return
    try:
        model.backbone.load_pretrained({'state_dict': state_dict}, source=source)
    except CheckpointMismatchError as error:
        raise SystemExit(f'error: {error}; nothing written (backbone weights, checked against the backbone of '
                         f'{config})') from None


def build_model(config: str):
    """The model of ``config`` (mmseg's registry, lvseg's modules registered), on the CPU, not initialised."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import lvseg  # noqa: F401  (registers lvseg's models)

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return MODELS.build(cfg.model)


if __name__ == '__main__':
    ignore_known_warnings()
    main()
