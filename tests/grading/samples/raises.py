# Exercise 1's cell fails as it runs (a module that does not exist), exercise 2's function
# raises when called; exercise 3 is right; exercise 4 answers "C", not one of the
# letters: 2 of 8, and the rest of the notebook still runs.
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=0 l05_top_k_cam_tests=0 l05_cam_for_display_tests=2 l05_max_pool_tests=0 l05_shared_channel_tests=0 l05_dropped_channels_tests=0

# %% l05_all_class_cams
import cam_helpers_that_do_not_exist

def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return cam_helpers_that_do_not_exist.all_maps(features, fc_weight)

# %% l05_top_k_cam
def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    return features[classes]  # wrong shape on purpose... and wrong indexing: raises

# %% l05_cam_for_display
def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    up = F.interpolate(cams[:, None].float(), size=(size, size), mode="bilinear",
                       align_corners=False)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / span.clamp_min(1e-12), torch.zeros_like(up))

# %% l05_max_pool
ANSWER_05_MAX_POOL = "C"  # not one of "a".."d": fails the visible check
