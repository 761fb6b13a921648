"""Convert a released LV-ViT file (or an lvseg pretraining checkpoint) into a checkpoint lvseg loads.

    python tools/convert_checkpoint.py upernet_lvvit_s.pth upernet_lvvit_s_mmseg1.pth [--config CONFIG]
    python tools/convert_checkpoint.py lvvit_s-26M-224-83.3.pth.tar pretrain/lvvit_s_backbone.pth [--img-size 512]
    python tools/convert_checkpoint.py lvvit_s-26M-224-83.3.pth.tar lvvit_s_classifier.pth --keep-heads

An official ADE20K segmentor (mmseg 0.x, ``upernet_lvvit_{s,m,l}.pth``) becomes an mmseg 1.x checkpoint of lvseg's
UperNet + LV-ViT (``backbone.side_layerK`` -> ``backbone.side_layers.K-1``, the 0.x optimizer state dropped) for
``tools/test.py`` and ``load_from``. A classifier becomes backbone weights for ``model.pretrained`` /
``init_cfg=dict(type='Pretrained', checkpoint=OUT)``: heads dropped and, with ``--img-size``, ``pos_embed`` resized
to that grid; with ``--keep-heads`` an official classifier becomes a whole ``TokenLabelingClassifier`` checkpoint
(backbone, ``head``, ``aux_head``) for ``tools/test.py`` with ``configs/official/lvvit-*``. ``--config`` checks
that a whole-model output loads strictly into that config's model, and writes nothing otherwise. The output holds
``{'state_dict': {...}, 'meta': {...}}``. Works offline; loads the input with ``torch.load(weights_only=True)``
and refuses a file that holds other Python objects, unless ``--unsafe-load`` (or ``LVSEG_UNSAFE_LOAD=1``) is
given for a file you trust.
"""
import argparse

from lvseg.checkpoints import convert_lvvit_checkpoint, convert_released_checkpoint
from lvseg.checkpoints.lvvit import resize_square_pos_embed
from lvseg.checkpoints.official_segmentor import is_official_segmentor
from lvseg.checkpoints.released import released_misfit
from lvseg.checkpoints.safe_load import UnsafeCheckpointError, allow_unsafe_load, load_checkpoint_file
from lvseg.checkpoints.unwrap import unwrap_state_dict
from lvseg.utils.atomic_write import save_atomically


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official LV-ViT classifier or segmentor, or lvseg pretraining checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--img-size', type=int, nargs='+', help='resize pos_embed for this input size (H [W])')
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--no-ema', action='store_true',
                        help='backbone outputs: take the raw weights, not the EMA weights')
    parser.add_argument('--keep-heads', action='store_true',
                        help='an official classifier: write the whole classifier (for tools/test.py), not the '
                        'backbone alone')
    parser.add_argument('--config', help='check that the (whole-model) output loads strictly into this config\'s '
                        'model before writing it')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load a source that holds arbitrary Python objects (only for files you trust)')
    args = parser.parse_args()

    if args.unsafe_load:
        allow_unsafe_load()
    try:
        checkpoint = load_checkpoint_file(args.src, map_location='cpu')
    except UnsafeCheckpointError as error:
        raise SystemExit(f'error: {error}') from None
    try:
        converted = convert_released_checkpoint(checkpoint)
    except ValueError as error:
        raise SystemExit(f'error: {args.src}: {error}') from None
    pos_grid = None
    if args.img_size:
        height, width = (args.img_size * 2)[:2]
        pos_grid = (height // args.patch_size, width // args.patch_size)

    meta = dict(source=args.src, pos_grid=pos_grid)
    segmentor = is_official_segmentor(unwrap_state_dict(checkpoint))
    if converted is not checkpoint and (segmentor or args.keep_heads):
        state_dict, dropped = dict(converted['state_dict']), []
        if pos_grid is not None:
            state_dict['backbone.pos_embed'] = resize_square_pos_embed(state_dict['backbone.pos_embed'], pos_grid)
        meta = dict(converted.get('meta') or {}, **meta)
    elif args.config or args.keep_heads:
        raise SystemExit(f'error: {args.src}: --keep-heads and --config take an official LV-ViT classifier or '
                         'segmentor; this file is neither')
    else:
        state_dict, dropped = convert_lvvit_checkpoint(checkpoint, pos_grid=pos_grid, prefer_ema=not args.no_ema)
    if args.config:
        misfit = released_misfit(state_dict, build_model(args.config).state_dict())
        if misfit:
            raise SystemExit(f'error: {args.src}: does not fit the model of {args.config}: {misfit}; nothing written')
    save_atomically({'state_dict': state_dict, 'meta': meta}, args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}; dropped {len(dropped)}: {dropped}')


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
    main()
