# A per-exercise timeout the student fights: exercise 2 sleeps forever and swallows every
# interrupt (which made nbgrader give up on the whole notebook); exercises 1, 3 and 4 are
# right and keep their points: 4 of 8.
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=0 l05_cam_for_display_tests=2 l05_max_pool_tests=1 l05_shared_channel_tests=0 l05_dropped_channels_tests=0
# expected-note: l05_top_k_cam_tests: timed out

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return torch.einsum("ck,nkhw->nchw", fc_weight, features)

# %% l05_top_k_cam
import signal
import time


def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    while True:
        try:
            time.sleep(3600)
        except BaseException:
            pass

# %% l05_cam_for_display
def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    up = F.interpolate(cams[:, None].float(), size=(size, size), mode="bilinear",
                       align_corners=False)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / span.clamp_min(1e-12), torch.zeros_like(up))

# %% l05_max_pool
ANSWER_05_MAX_POOL = "c"
