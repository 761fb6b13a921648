"""Which distributions a wheelhouse leaves out (lvseg/infra/wheelhouse/contents.py), and why. The walk of the
requirements and the node's list: tests/test_tools/test_wheelhouse.py."""
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lvseg.infra.wheelhouse.contents import left_out_reason

HAVE = {'scipy': Version('1.16.2'), 'timm': None, 'setuptools': Version('82.0')}


def test_what_comes_with_torch_opencv_and_mmcv_are_left_out_whatever_the_node_has():
    assert left_out_reason('numpy', SpecifierSet('>=1.20'), {}) == 'comes with torch'
    assert left_out_reason('nvidia-cublas-cu12', SpecifierSet(), {}) == 'comes with torch'
    assert left_out_reason('opencv-python', SpecifierSet(), {}) == 'the node brings OpenCV'
    assert left_out_reason('mmcv', SpecifierSet('<2.2.0'), {}) == 'built on the node from the sdist'


def test_what_the_node_has_is_left_out_where_its_version_fits():
    assert left_out_reason('scipy', SpecifierSet('>=1.10'), HAVE) == 'the node has scipy 1.16.2'
    assert left_out_reason('scipy', SpecifierSet('<1.16'), HAVE) is None  # too new: carried
    assert left_out_reason('timm', SpecifierSet('>=99'), HAVE) == 'the node has timm'  # a bare name: any version
    assert left_out_reason('setuptools', SpecifierSet(), HAVE) is None  # always carried (pkg_resources)
    assert left_out_reason('regex', SpecifierSet(), HAVE) is None
