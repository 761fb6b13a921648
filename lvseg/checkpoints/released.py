"""The files the LV-ViT authors released, loaded as they are: the one call a checkpoint loader makes.

:func:`adapt_released_checkpoint` turns an official segmentor (mmseg 0.x, :mod:`.official_segmentor`) or
classifier (:mod:`.official_classifier`) into lvseg's keys, and stops with one line naming the file when it does
not fit the model it is loaded into (another depth or width, a position embedding of another image size,
another number of classes, a tensor with no place); every other checkpoint passes unchanged, for the loader's own
checks (:mod:`.fit`). A checkpoint loader calls it between reading a file and loading it into the model::

    checkpoint = adapt_released_checkpoint(checkpoint, model, filename)
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper

from .fit import CheckpointMismatchError, whole_model_misfit
from .official_classifier import convert_classifier_checkpoint
from .official_segmentor import convert_segmentor_checkpoint


def convert_released_checkpoint(checkpoint: Mapping) -> Mapping:
    """An official segmentor or classifier checkpoint in lvseg's keys; any other checkpoint as it is.

    Raises:
        ValueError: for an official file holding tensors with no place in lvseg's model (naming them).
    """
    return convert_classifier_checkpoint(convert_segmentor_checkpoint(checkpoint))


def adapt_released_checkpoint(checkpoint: Mapping, model: torch.nn.Module, source: str) -> Mapping:
    """:func:`convert_released_checkpoint`, then, if ``checkpoint`` was an official file, check that it fits
    ``model`` (a model wrapper such as DDP or a test-time-augmentation model is looked through, as mmengine's
    ``load_state_dict`` does).

    Args:
        checkpoint: what ``torch.load`` returned.
        model: the model the checkpoint will be loaded into.
        source: the file's name, for the message.

    Returns:
        The checkpoint to load: converted (``{'state_dict': ..., ...}``) for an official file, else ``checkpoint``.

    Raises:
        CheckpointMismatchError: one line, ``<source>: <what differs>``, for an official file with a tensor that
            has no place in lvseg's models or that does not fit ``model``.
    """
    try:
        converted = convert_released_checkpoint(checkpoint)
    except ValueError as error:
        raise CheckpointMismatchError(f'{source}: {error}') from None
    if converted is checkpoint:
        return checkpoint
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    misfit = whole_model_misfit(converted['state_dict'], model.state_dict(), source,
                                advice='It is an official LV-ViT file: use the config made for it (configs/official/)')
    if misfit:
        raise CheckpointMismatchError(misfit)
    return converted
