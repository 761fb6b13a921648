"""Annotate an ImageNet-layout image folder with a dense classifier, into a packed token-label store.

    python tools/annotate.py data/imagenet/train data/imagenet/label_store/train \\
        --model dm_nfnet_f6 --checkpoint nfnet_f6.pth --img-size 576 --class-index-file imagenet_synsets.txt
    python tools/annotate.py IMAGES STORE --config configs/pretrain/X.py --checkpoint lvvit.pth   # lvseg model
    torchrun --nproc_per_node=8 tools/annotate.py IMAGES STORE --model dm_nfnet_f6 --checkpoint nfnet_f6.pth \\
        --device cuda --amp --launcher pytorch

Every image is resized whole to --img-size (aspect ratio squashed, no centre crop), so the map's cells tile
the whole image. The store keeps each image's top-k logits and classes per cell (lvseg/datasets/label_store/).
A killed run continues where it stopped when run again with the same arguments. With --class-index-file,
a complete run reports the top-1/top-5 accuracy of the mean map of each image against its folder's class.
Weights come from the local --checkpoint only; nothing is downloaded.

An image that cannot be decoded stops the run naming it (--bad-samples error, the default), after the good
images of its batch are written. With --bad-samples skip the run goes on, prints each skipped image, and stops
once more than --max-skipped were skipped; the skipped images get no row, so the store stays incomplete
(pretraining refuses it) and the run ends by naming them: replace them and run the same command again (only
they are annotated), or remove them and annotate into a new store. A mistake ends in one `error: <file>: ...`
line and exit status 2; --debug (or LVSEG_DEBUG=1) shows the traceback.
"""
import argparse
from pathlib import Path

import torch
from mmengine.dist import get_dist_info, init_dist, is_distributed

import lvseg  # noqa: F401  (registers lvseg's models for --config)
from lvseg.annotator.dense import TOKEN_LABELING_HEADS, timm_annotator, token_labeling_annotator
from lvseg.annotator.run import NORMALIZATIONS, Preprocessing, annotate, folder_labels
from lvseg.datasets import bad_sample
from lvseg.datasets.imagenet import list_image_keys
from lvseg.datasets.label_store import LabelStoreError
from lvseg.engine.device_fallbacks import gpu_has_native_bf16, init_cpu_process_group
from lvseg.engine.launch import USER_ERRORS
from lvseg.utils.known_warnings import ignore_known_warnings
from lvseg.utils.user_errors import add_debug_argument, require_file, require_writable_folder, user_errors

DEFAULT_IMG_SIZE = 576  # the published maps: NFNet-F6 at 576 px (docs/method.md#token-labeling)
EXAMPLES = 3  # bad images named at the end of a run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image_root', type=Path, help='folder of class folders <wnid>/<image>')
    parser.add_argument('store', type=Path, help='label store folder (created, or resumed if unfinished)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--model', help='timm model name (built without downloading), e.g. tf_efficientnet_lite0')
    source.add_argument('--config', type=Path, help='lvseg config of a TokenLabelingClassifier')
    parser.add_argument('--checkpoint', type=Path, required=True, help='local weights file')
    parser.add_argument('--head', choices=TOKEN_LABELING_HEADS, default='aux_head',
                        help='with --config: the head applied to every patch token (default: aux_head)')
    parser.add_argument('--img-size', type=int, nargs='+', default=[DEFAULT_IMG_SIZE], metavar='PIXELS',
                        help=f'input size, H [W] (default: {DEFAULT_IMG_SIZE})')
    parser.add_argument('--normalize', choices=sorted(NORMALIZATIONS), default='imagenet',
                        help="input normalization (default: imagenet; tf-lite is (x - 127) / 128)")
    parser.add_argument('--mean', type=float, nargs=3, help='RGB mean in 0-255 units (overrides --normalize)')
    parser.add_argument('--std', type=float, nargs=3, help='RGB std in 0-255 units (overrides --normalize)')
    parser.add_argument('--k', type=int, default=5, help='classes kept per map cell (default: 5)')
    parser.add_argument('--batch-size', type=int, default=32, help='images per forward pass (default: 32)')
    parser.add_argument('--workers', type=int, default=4, help='image-decoding processes (default: 4)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--amp', action='store_true', help='autocast on CUDA: bfloat16 where supported, else float16')
    parser.add_argument('--class-index-file', type=Path,
                        help='one wnid per line, line i = the model\'s class i; enables the accuracy sanity figure')
    parser.add_argument('--max-images', type=int,
                        help='stop after this many images per process; run again to continue')
    parser.add_argument('--launcher', choices=('none', 'pytorch'), default='none',
                        help='pytorch: one process per rank under torchrun')
    parser.add_argument('--bad-samples', choices=bad_sample.POLICIES, default='error',
                        help='an image that cannot be decoded: error (default) stops naming it; skip leaves its row '
                        'unwritten, so the store stays incomplete until it is replaced and the command run again')
    parser.add_argument('--max-skipped', type=int, default=100, metavar='N',
                        help='with --bad-samples skip: stop once more than N images were skipped (per process; '
                        'default: 100)')
    add_debug_argument(parser)
    args = parser.parse_args()
    if len(args.img_size) not in (1, 2) or min(args.img_size) < 1:
        parser.error(f'--img-size takes one or two positive numbers (H W), got {args.img_size}')
    if (args.mean is None) != (args.std is None):
        parser.error('give --mean and --std together')
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but CUDA is not available')
    if args.max_skipped < 0:
        parser.error(f'--max-skipped takes a number >= 0, got {args.max_skipped}')
    return args


@user_errors(LabelStoreError, *USER_ERRORS)
def main() -> None:
    args = parse_args()
    for path, what in ((args.checkpoint, 'checkpoint'), (args.config, 'config'),
                       (args.class_index_file, 'class index')):
        if path is not None:
            require_file(path, what)
    require_writable_folder(args.store, 'label store folder')
    init_cpu_process_group(args.launcher)
    if args.launcher == 'pytorch' and not is_distributed():
        init_dist('pytorch')  # CUDA: NCCL, one GPU per LOCAL_RANK
    device = f'cuda:{torch.cuda.current_device()}' if args.device == 'cuda' else 'cpu'
    size = (args.img_size[0], args.img_size[-1])
    mean, std = (args.mean, args.std) if args.mean else NORMALIZATIONS[args.normalize]
    preprocessing = Preprocessing(size=size, mean=tuple(mean), std=tuple(std))
    if args.model:
        annotator = timm_annotator(args.model, args.checkpoint, img_size=size)
        source = f'timm {args.model}'
    else:
        annotator = token_labeling_annotator(args.config, args.checkpoint, head=args.head)
        source = f'lvseg {args.config.name} ({args.head})'
    amp_dtype = None
    if args.amp:
        amp_dtype = torch.bfloat16 if gpu_has_native_bf16() else torch.float16
    description = (f'{source}, weights {args.checkpoint.name}; {preprocessing.describe()}'
                   + (f'; autocast {str(amp_dtype).removeprefix("torch.")}' if amp_dtype else ''))
    rank, world_size = get_dist_info()
    labels = None
    if args.class_index_file and rank == 0:  # rank 0 alone computes the accuracy
        labels = folder_labels(args.image_root, list_image_keys(args.image_root), args.class_index_file.resolve())
    result = annotate(annotator, args.image_root, args.store, preprocessing, description, k=args.k,
                      batch_size=args.batch_size, workers=args.workers, device=device, amp_dtype=amp_dtype,
                      labels=labels, max_images=args.max_images, bad_samples=args.bad_samples,
                      max_skipped=args.max_skipped)
    who = f'rank {rank}: rows [{result.rows.start}, {result.rows.stop}), ' if world_size > 1 else ''
    print(f'annotate: {who}wrote {result.annotated} images, {result.skipped} were already done', flush=True)
    if result.bad_images:
        named = ', '.join(str(path) for path in result.bad_images[:EXAMPLES])
        images = f'{len(result.bad_images)} image' + ('' if len(result.bad_images) == 1 else 's')
        print(f'annotate: {who}skipped {images} that cannot be decoded ({named}'
              + (', ...' if len(result.bad_images) > EXAMPLES else '') + '); they have no row: replace them and run '
              'the same command again (only the rows left are annotated), or remove them and annotate into a new '
              'store', flush=True)
    if rank:
        return
    print(f'annotate: {result.left} images left in {args.store}')
    if result.left:
        print('annotate: the store is not complete; run the same command again to continue')
    if result.accuracy is not None:
        print(f"annotate: pooled map accuracy top1 {result.accuracy['top1']:.2f} "
              f"top5 {result.accuracy['top5']:.2f} (% of images)")
    elif not result.left and labels is None:
        print('annotate: no --class-index-file, so no accuracy check (folder classes may not be model classes)')


if __name__ == '__main__':
    ignore_known_warnings()
    main()
