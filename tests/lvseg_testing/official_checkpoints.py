"""State dicts with the exact key names and shapes of the released models' files, filled with random tensors."""
import torch


def official_state_dict(embed_dims=32, depth=2, stem=8, grid=14, num_classes=10, seed=0):
    """A state dict with exactly the key names and shapes of the official `tlt/models/lvvit.py` LV_ViT."""
    gen = torch.Generator().manual_seed(seed)
    hidden = 3 * embed_dims
    shapes = {'cls_token': (1, 1, embed_dims), 'pos_embed': (1, 1 + grid * grid, embed_dims),
              'patch_embed.conv1.weight': (stem, 3, 7, 7), 'patch_embed.conv2.weight': (stem, stem, 3, 3),
              'patch_embed.conv3.weight': (stem, stem, 3, 3), 'patch_embed.proj.weight': (embed_dims, stem, 8, 8),
              'patch_embed.proj.bias': (embed_dims,), 'norm.weight': (embed_dims,), 'norm.bias': (embed_dims,),
              'head.weight': (num_classes, embed_dims), 'head.bias': (num_classes,),
              'aux_head.weight': (num_classes, embed_dims), 'aux_head.bias': (num_classes,)}
    for i in (1, 2, 3):
        for stat in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'patch_embed.bn{i}.{stat}'] = (stem,)
    for b in range(depth):
        shapes.update({f'blocks.{b}.norm1.weight': (embed_dims,), f'blocks.{b}.norm1.bias': (embed_dims,),
                       f'blocks.{b}.attn.qkv.weight': (3 * embed_dims, embed_dims),
                       f'blocks.{b}.attn.proj.weight': (embed_dims, embed_dims),
                       f'blocks.{b}.attn.proj.bias': (embed_dims,),
                       f'blocks.{b}.norm2.weight': (embed_dims,), f'blocks.{b}.norm2.bias': (embed_dims,),
                       f'blocks.{b}.mlp.fc1.weight': (hidden, embed_dims), f'blocks.{b}.mlp.fc1.bias': (hidden,),
                       f'blocks.{b}.mlp.fc2.weight': (embed_dims, hidden), f'blocks.{b}.mlp.fc2.bias': (embed_dims,)})
    state = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    for i in (1, 2, 3):
        state[f'patch_embed.bn{i}.running_var'] = state[f'patch_embed.bn{i}.running_var'].abs()
        state[f'patch_embed.bn{i}.num_batches_tracked'] = torch.tensor(7)
    return state
