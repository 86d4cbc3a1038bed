# Exercises 1 and 3 right; exercise 2 passes its visible check but ranks the channels by the
# size of their weights (|w|), which only the hidden tests, with negative weights, catch; exercise 4 is a valid letter
# but the wrong answer: 3 of 8.
# Handed in as <student>/<lesson>.ipynb, without the lesson folder (accepted too).
# lesson: 05_cam_resnet18
# layout: flat
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=0 l05_cam_for_display_tests=2 l05_max_pool_tests=0 l05_shared_channel_tests=0 l05_dropped_channels_tests=0

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return (fc_weight[None, :, :, None, None] * features[:, None]).sum(dim=2)

# %% l05_top_k_cam
def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    maps = []
    for n, c in enumerate(classes.tolist()):
        idx = fc_weight[c].abs().topk(k).indices  # the largest |w|, not the largest w
        maps.append((fc_weight[c, idx][:, None, None] * features[n, idx]).sum(dim=0))
    return torch.stack(maps)

# %% l05_cam_for_display
def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    up = F.interpolate(cams[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    out = torch.zeros_like(up)
    for n in range(len(up)):
        lo, hi = up[n].min(), up[n].max()
        if hi > lo:
            out[n] = (up[n] - lo) / (hi - lo)
    return out

# %% l05_max_pool
ANSWER_05_MAX_POOL = "d"  # a letter, so it passes the visible check; the wrong one
