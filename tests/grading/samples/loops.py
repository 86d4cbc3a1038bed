# Exercise 2 never returns (an endless loop): its test cell hits the per-cell timeout and is
# interrupted; exercises 1 and 3 are right and still score,
# the answer to exercise 4 is wrong: 3 of 8.
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=0 l05_cam_for_display_tests=2 l05_max_pool_tests=0 l05_shared_channel_tests=0 l05_dropped_channels_tests=0

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return torch.einsum("ck,nkhw->nchw", fc_weight, features)

# %% l05_top_k_cam
def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    while True:  # waiting for a convergence that never comes
        k = k + 0

# %% l05_cam_for_display
def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    up = F.interpolate(cams[:, None].float(), size=(size, size), mode="bilinear",
                       align_corners=False)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / span.clamp_min(1e-12), torch.zeros_like(up))

# %% l05_max_pool
ANSWER_05_MAX_POOL = "a"  # "fc is still linear": wrong
