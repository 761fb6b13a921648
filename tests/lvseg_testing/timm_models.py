"""Randomly initialised timm classifiers saved as the annotator's weight files, and ImageNet's normalization."""
import timm
import torch

from lvseg.annotator.run import NORMALIZATIONS

IMAGENET = dict(zip(('mean', 'std'), NORMALIZATIONS['imagenet']))


def save_timm_model(name, path, num_classes=8):
    """A randomly initialised timm model (seed 0) and its state dict saved at ``path``."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=num_classes).eval()
    torch.save(model.state_dict(), path)
    return model
