"""An independent reference of the official LV-ViT classifier and of its token-labeling loss, for tests.

Written from the method's definition (docs/method.md, "LV-ViT backbone", "MixToken", "Loss") with the names,
shapes and formulas of the official code (github.com/zihangJiang/TokenLabeling at 9dbfd59: ``LV_ViT`` and
``rand_bbox`` in ``tlt/models/lvvit.py``, ``PatchEmbed4_2`` and ``Block`` in ``tlt/models/layers.py``,
``TokenLabelCrossEntropy`` in ``tlt/loss/cross_entropy.py``, the target smoothing of ``mixup_target`` in
``tlt/data/mixup.py``). Plain torch; nothing here comes from lvseg, so that lvseg can be compared with it.

Conventions of the official code kept here:

- the MixToken box is the tuple ``(bbx1, bby1, bbx2, bby2)`` of ``rand_bbox``, where ``bbx`` indexes the ROWS of
  the ``(B, C, h, w)`` token map (``rand_bbox`` names the map's dim 2 ``W``) and ``bby`` its columns; half-open;
- token logits are row-major over the token grid (the map flattened), ``(B, h*w, K)``;
- the loss takes targets that are already smoothed (the official script smooths them in ``mixup_target`` before
  the loss; MixToken's class-target mixing happens inside the loss).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (embed dim, depth, heads, MLP ratio, stem channels, skip_lam) of the registered ``lvvit_*`` functions.
OFFICIAL_ARCHS = {
    'lvvit_t': dict(embed_dim=240, depth=12, num_heads=4, mlp_ratio=3.0, stem=64, skip_lam=1.0),
    'lvvit_s': dict(embed_dim=384, depth=16, num_heads=6, mlp_ratio=3.0, stem=64, skip_lam=2.0),
    'lvvit_m': dict(embed_dim=512, depth=20, num_heads=8, mlp_ratio=3.0, stem=64, skip_lam=2.0),
    'lvvit_l': dict(embed_dim=768, depth=24, num_heads=12, mlp_ratio=3.0, stem=128, skip_lam=3.0),
}


class _Namespace(nn.Module):
    """A module that only holds sub-modules, so that the state-dict keys carry the official names."""


class LVViTClassifierReference(nn.Module):
    """The official ``LV_ViT`` with ``return_dense=True`` (both heads), written out by hand.

    Keys: ``patch_embed.{conv1,bn1,conv2,bn2,conv3,bn3,proj}``, ``cls_token`` ``(1, 1, C)``, ``pos_embed``
    ``(1, 1 + h*w, C)``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``, ``head``,
    ``aux_head``. Patch 16; the stem is conv 7x7 stride 2 pad 3, conv 3x3, conv 3x3 (no bias, each + BN + ReLU),
    then a conv with kernel = stride = 8; LayerNorm eps 1e-5; attention scale ``head_dim ** -0.5``; exact GELU;
    each residual branch divided by ``skip_lam``. No dropout, no drop path (the comparison runs without them).

    Args:
        embed_dim: token width C.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over C.
        stem: channels of the three stem convolutions.
        skip_lam: divisor of every residual branch.
        img_size: image side in pixels, or ``(H, W)``; the position grid is ``(H // 16, W // 16)``.
        num_classes: K.
    """

    def __init__(self, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float, stem: int, skip_lam: float,
                 img_size: int | tuple[int, int], num_classes: int) -> None:
        super().__init__()
        self.num_heads, self.skip_lam = num_heads, skip_lam
        c, hidden = embed_dim, int(embed_dim * mlp_ratio)
        height, width = (img_size, img_size) if isinstance(img_size, int) else img_size
        self.patch_embed = _Namespace()
        self.patch_embed.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.patch_embed.bn1 = nn.BatchNorm2d(stem)
        self.patch_embed.conv2 = nn.Conv2d(stem, stem, kernel_size=3, stride=1, padding=1, bias=False)
        self.patch_embed.bn2 = nn.BatchNorm2d(stem)
        self.patch_embed.conv3 = nn.Conv2d(stem, stem, kernel_size=3, stride=1, padding=1, bias=False)
        self.patch_embed.bn3 = nn.BatchNorm2d(stem)
        self.patch_embed.proj = nn.Conv2d(stem, c, kernel_size=8, stride=8)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (height // 16) * (width // 16), c))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            block = _Namespace()
            block.norm1, block.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
            block.attn = _Namespace()
            block.attn.qkv, block.attn.proj = nn.Linear(c, 3 * c, bias=False), nn.Linear(c, c)
            block.mlp = _Namespace()
            block.mlp.fc1, block.mlp.fc2 = nn.Linear(c, hidden), nn.Linear(hidden, c)
            self.blocks.append(block)
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, num_classes)
        self.aux_head = nn.Linear(c, num_classes)

    @classmethod
    def official(cls, name: str, img_size: int = 224, num_classes: int = 1000) -> LVViTClassifierReference:
        """One of the registered official models, ``name`` in :data:`OFFICIAL_ARCHS`."""
        return cls(**OFFICIAL_ARCHS[name], img_size=img_size, num_classes=num_classes)

    def token_map(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` -> the stem's token map ``(B, C, H/16, W/16)``."""
        stem = self.patch_embed
        x = torch.relu(stem.bn1(stem.conv1(images)))
        x = torch.relu(stem.bn2(stem.conv2(x)))
        x = torch.relu(stem.bn3(stem.conv3(x)))
        return stem.proj(x)

    def logits(self, images: torch.Tensor,
               box: tuple[int, int, int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits ``(B, K)`` and token logits ``(B, h*w, K)``.

        With a MixToken ``box`` (official order, see the module), the token map of image ``b`` takes image
        ``B-1-b``'s tokens inside the box before the class token is prepended, and the token logits inside the box
        are given back to the image they came from afterwards (the official training-mode forward).
        """
        x = self.token_map(images)
        batch, c, h, w = x.shape
        if box is not None:
            rows, cols = slice(box[0], box[2]), slice(box[1], box[3])
            mixed = x.clone()
            mixed[:, :, rows, cols] = x.flip(0)[:, :, rows, cols]
            x = mixed
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(batch, -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = x + self._attention(block, block.norm1(x)) / self.skip_lam
            x = x + block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(x)))) / self.skip_lam
        x = self.norm(x)
        cls_logits, token_logits = self.head(x[:, 0]), self.aux_head(x[:, 1:])
        if box is not None:
            grid = token_logits.reshape(batch, h, w, -1)
            back = grid.clone()
            back[:, rows, cols] = grid.flip(0)[:, rows, cols]
            token_logits = back.reshape(batch, h * w, -1)
        return cls_logits, token_logits

    def inference_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The official evaluation output ``(B, K)``: ``head(cls) + 0.5 * max over tokens of aux_head``."""
        cls_logits, token_logits = self.logits(images)
        return cls_logits + 0.5 * token_logits.max(dim=1).values

    def _attention(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        batch, n, c = x.shape
        head_dim = c // self.num_heads
        qkv = block.attn.qkv(x).reshape(batch, n, 3, self.num_heads, head_dim)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # (B, heads, N, head_dim) each
        weights = torch.softmax((q * head_dim ** -0.5) @ k.transpose(-2, -1), dim=-1)
        return block.attn.proj((weights @ v).transpose(1, 2).reshape(batch, n, c))


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Fill every parameter and BN buffer of ``model`` with seeded random values, in place, and return it.

    Matrices and kernels ~ N(0, 1 / fan_in) (activations stay of order one through deep stacks, logits of order
    one); norm gains 1 + 0.1 N(0, 1); biases, ``cls_token``, ``pos_embed`` and BN running means 0.1 N(0, 1); BN
    running variances in [0.5, 1.5).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if name.endswith('num_batches_tracked'):
                tensor.fill_(10)
                continue
            noise = torch.randn(tensor.shape, generator=gen, dtype=tensor.dtype)
            if name.endswith('running_var'):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen, dtype=tensor.dtype))
            elif name.endswith('weight') and tensor.dim() > 1:
                tensor.copy_(noise / math.sqrt(tensor[0].numel()))
            elif name.endswith('weight'):
                tensor.copy_(1 + 0.1 * noise)
            else:
                tensor.copy_(0.1 * noise)
    return model


def count_parameters(name: str, img_size: int, num_classes: int = 1000) -> int:
    """The number of parameters of the official ``name`` (trunk, ``head`` and ``aux_head``) at ``img_size``;
    the model is built on the meta device, so no memory is spent on its weights."""
    with torch.device('meta'):
        model = LVViTClassifierReference.official(name, img_size, num_classes)
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- MixToken


def mix_token_box(grid: tuple[int, int], lam: float, centre: tuple[int, int]) -> tuple[int, int, int, int]:
    """The official ``rand_bbox`` for a drawn ``lam`` and box centre ``(row, column)``, on a token grid
    ``(h, w)``: sides ``int(h sqrt(1 - lam))`` and ``int(w sqrt(1 - lam))``, each spanning centre -/+ side // 2,
    clipped to the grid. Returns ``(bbx1, bby1, bbx2, bby2)`` (rows first, see the module)."""
    h, w = grid
    fraction = math.sqrt(1.0 - lam)
    half_rows, half_cols = int(h * fraction) // 2, int(w * fraction) // 2
    row, col = centre

    def clip(value: int, size: int) -> int:
        return max(0, min(value, size))

    return (clip(row - half_rows, h), clip(col - half_cols, w), clip(row + half_rows, h), clip(col + half_cols, w))


# ---------------------------------------------------------------- targets and loss


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot targets ``(B, K)`` smoothed as the official ``one_hot``/``mixup_target``: ``1 - s + s/K`` at the
    label, ``s/K`` elsewhere."""
    off = smoothing / num_classes
    target = torch.full((len(labels), num_classes), off, dtype=torch.float64)
    target[torch.arange(len(labels)), labels] = 1.0 - smoothing + off
    return target


def smooth_soft(target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Smooth probability targets ``(..., K)`` as ``t (1 - s) + s / K`` (sums to 1). The official
    ``get_labelmaps_with_coords`` gives ``t (1 - s + s / K) + s / K`` for soft labels instead, summing to
    ``1 + s / K``; lvseg keeps the normalised rule on purpose (docs/method.md, "Label smoothing")."""
    return target * (1.0 - smoothing) + smoothing / target.shape[-1]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the rows of ``-sum_k target_k log softmax(logits)_k``; logits and targets ``(M, K)``."""
    return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def token_labeling_loss(cls_logits: torch.Tensor, token_logits: torch.Tensor, cls_target: torch.Tensor,
                        token_target: torch.Tensor, box: tuple[int, int, int, int] = (0, 0, 0, 0),
                        ground_truth: torch.Tensor | None = None, cls_weight: float = 1.0,
                        dense_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The official ``TokenLabelCrossEntropy``, term by term, computed in float64.

    Args:
        cls_logits: ``(B, K)``.
        token_logits: ``(B, N, K)``, already given back to their images (see
            :meth:`LVViTClassifierReference.logits`).
        cls_target: the (smoothed) crop-level target ``(B, K)``.
        token_target: the (smoothed) per-token targets ``(B, N, K)``, or ``(B, K)`` for the image label at every
            token (the official path without annotator maps).
        box: the MixToken box, official order; ``(0, 0, 0, 0)`` for none.
        ground_truth: the (smoothed) one-hot image labels ``(B, K)`` for the official ``--ground-truth`` option:
            the class target becomes ``r * cls_target + (1 - r) * ground_truth`` with ``r = 0.5`` where the two
            agree on the top class and 0.9 where they do not. None: the option is off.
        cls_weight: weight of the class-token term.
        dense_weight: weight of the token term.

    Returns:
        ``(cls_weight * H(cls), dense_weight * mean over the B*N tokens of H(token))``; their sum is the official
        loss.
    """
    batch, n, k = token_logits.shape
    cls_target = cls_target.double()
    if token_target.dim() == 2:
        token_target = token_target[:, None].expand(batch, n, k)
    if ground_truth is not None:
        agree = cls_target.argmax(-1) == ground_truth.argmax(-1)
        ratio = torch.where(agree, 0.5, 0.9).double()[:, None]
        cls_target = ratio * cls_target + (1 - ratio) * ground_truth.double()
    lam = 1.0 - (box[2] - box[0]) * (box[3] - box[1]) / n
    if lam < 1:
        cls_target = lam * cls_target + (1 - lam) * cls_target.flip(0)
    loss_cls = soft_cross_entropy(cls_logits.double(), cls_target)
    loss_token = soft_cross_entropy(token_logits.double().reshape(-1, k), token_target.double().reshape(-1, k))
    return cls_weight * loss_cls, dense_weight * loss_token
