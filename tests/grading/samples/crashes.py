# Kernel death in one exercise: exercise 1 is right; exercise 2's function ends its own process
# with os._exit(0) (the case: nbgrader lost exercise 1's credit with it); exercise 3's
# function writes forged "PASS" reports to every open file descriptor, then segfaults (a crash in
# native code). Exercise 4 is answered
# right. Honest: 2 of 8, and each failure says what happened.
# lesson: 05_cam_resnet18
# expected: l05_all_class_cams_tests=1 l05_top_k_cam_tests=0 l05_cam_for_display_tests=0 l05_max_pool_tests=1 l05_shared_channel_tests=0 l05_dropped_channels_tests=0
# expected-note: l05_top_k_cam_tests: the process exited (status 0) before its test finished

# %% l05_all_class_cams
def class_activation_maps(features, fc_weight):
    """CAMs of all classes: (N, K, h, w) features and (C, K) weights -> (N, C, h, w)."""
    return torch.einsum("ck,nkhw->nchw", fc_weight, features)

# %% l05_top_k_cam
import os


def top_k_cam(features, fc_weight, classes, k):
    """CAM from the k largest-weight channels of each image's class: (N, h, w)."""
    os._exit(0)

# %% l05_cam_for_display
import faulthandler


def cam_for_display(cams, size):
    """Bilinear resize (N, h, w) -> (N, size, size), then min-max each map to [0, 1]."""
    for fd in range(3, 256):
        try:
            os.write(fd, b"0 PASS \n")
        except OSError:
            pass
    faulthandler._sigsegv()

# %% l05_max_pool
ANSWER_05_MAX_POOL = "c"
