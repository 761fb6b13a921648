"""aAcc, mIoU and mAcc of the label maps ``tools/test.py --out`` wrote, computed here from a confusion matrix
(numpy), for comparison with what the tool printed."""
import re
from pathlib import Path

import numpy as np
from PIL import Image

PRINTED = re.compile(r'test metrics: aAcc: ([\d.]+), mIoU: ([\d.]+), mAcc: ([\d.]+)')


def printed_metrics(log: str) -> dict[str, float]:
    """aAcc, mIoU and mAcc (percent, 2 decimals) of ``tools/test.py``'s line ``test metrics: aAcc: ...`` in
    ``log``."""
    found = PRINTED.search(log)
    assert found, log[-3000:]
    return dict(zip(('aAcc', 'mIoU', 'mAcc'), map(float, found.groups())))


def metrics_of_written_predictions(predictions: Path, annotations: Path, num_classes: int) -> dict[str, float]:
    """``{'aAcc', 'mIoU', 'mAcc'}`` in percent (unrounded) of the PNGs in ``predictions`` against the annotations
    of the same names in ``annotations``, in the ADE20K numbering on disk (``reduce_zero_label``): class ``k`` is
    ``k + 1`` in both; 0 in an annotation is ignored. As mmseg's ``IoUMetric``, a class that is in neither the
    annotations nor the predictions has no IoU (and one absent from the annotations no accuracy), and the means
    skip it."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows: annotation, columns: prediction
    files = sorted(predictions.glob('*.png'))
    assert files, f'no PNG in {predictions}'
    for file in files:
        predicted = np.asarray(Image.open(file), dtype=np.int64) - 1
        truth = np.asarray(Image.open(annotations / file.name), dtype=np.int64) - 1
        assert predicted.shape == truth.shape, file.name
        kept = truth >= 0
        confusion += np.bincount(truth[kept] * num_classes + predicted[kept],
                                 minlength=num_classes ** 2).reshape(num_classes, num_classes)
    hits = np.diag(confusion).astype(float)
    labelled, predicted_area = confusion.sum(1), confusion.sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = hits / (labelled + predicted_area - hits)
        accuracy = hits / labelled
    return {'aAcc': float(100 * hits.sum() / labelled.sum()), 'mIoU': float(100 * np.nanmean(iou)),
            'mAcc': float(100 * np.nanmean(accuracy))}
