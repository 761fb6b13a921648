"""A tiny token-labeling classifier and what the data loader hands it, for tests of the training step."""
import torch
from mmengine.config import ConfigDict
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers the modules)

ARCH = {'embed_dims': 32, 'num_layers': 3, 'num_heads': 2, 'mlp_ratio': 2.0, 'stem_channels': 8, 'skip_lam': 2.0}
NUM_CLASSES = 6


def classifier(class_target: str) -> torch.nn.Module:
    """A ``TokenLabelingClassifier`` over a 3-block LV-ViT (``ARCH``) for 64x64 images and ``NUM_CLASSES``, seeded,
    in training mode, drop path 0.1 and random erasing on every image (so that every path of the step runs)."""
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(
        type='TokenLabelingClassifier', num_classes=NUM_CLASSES, class_target=class_target,
        backbone={'type': 'LVViT', 'arch': ARCH, 'img_size': 64, 'pyramid': 'none', 'final_norm': True,
                  'drop_path_rate': 0.1},
        data_preprocessor={'type': 'TokenLabelingDataPreprocessor', 'random_erasing_prob': 1.0}))
    model.init_weights()
    return model.train()


def loader_batch(with_map: bool) -> dict:
    """What the data loader hands ``train_step``: uint8 images and data samples with the token-label fields.

    The images come stacked: from a list, mmengine's ``stack_batch`` compares the images' sizes in a CPU tensor
    that it builds from their shapes (a host-side read of no device data, outside lvseg)."""
    generator = torch.Generator().manual_seed(0)
    samples = []
    for label in (0, 3, 5, 2):
        sample = BaseDataElement(gt_label=torch.tensor(label))
        if with_map:
            logits = torch.randn(3, 4, 4, generator=generator).sort(dim=0, descending=True).values
            indices = torch.randint(NUM_CLASSES, (3, 4, 4), generator=generator).float()
            sample.set_data({'token_label_topk': torch.stack([logits, indices]).half(),
                             'token_label_box': torch.tensor([0.1, 0.2, 0.9, 0.8]),
                             'token_label_flip': torch.tensor(label % 2 == 1),
                             'token_label_affine': torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.05]])})
        samples.append(sample)
    images = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=generator) for _ in samples]
    return {'inputs': torch.stack(images), 'data_samples': samples}
